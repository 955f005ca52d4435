//! Retry policy: the OTLP specification's exponential backoff with jitter, with the
//! defaults and the give-up rules of OpenTelemetry-Go's exporters.

use std::time::{Duration, Instant};

/// How failed exports are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Whether retryable failures are retried at all.
    pub enabled: bool,
    /// The first backoff interval (Go: 5 s).
    pub initial_interval: Duration,
    /// The cap on one backoff interval (Go: 30 s).
    pub max_interval: Duration,
    /// The total time after which retrying stops (Go: 1 min); zero means no limit.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

/// Go's `backoff.ExponentialBackOff` defaults.
const RANDOMIZATION_FACTOR: f64 = 0.5;
const MULTIPLIER: f64 = 1.5;

/// What to do after a retryable failure.
#[derive(Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Wait this long, then try again.
    Wait(Duration),
    /// The retry budget is spent (or would be by the wait the receiver asked for).
    GiveUp(&'static str),
}

/// The state of one export's retries.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    current: Duration,
    started: Instant,
}

impl Backoff {
    /// Starts the clock for one export.
    pub fn new(policy: RetryPolicy) -> Self {
        Backoff {
            policy,
            current: policy.initial_interval,
            started: Instant::now(),
        }
    }

    /// The next step after a retryable failure; `throttle` is the wait the receiver
    /// asked for (RetryInfo, Retry-After), which wins when it is longer.
    pub fn next(&mut self, throttle: Option<Duration>) -> NextStep {
        if !self.policy.enabled {
            return NextStep::GiveUp("retry is disabled");
        }
        let elapsed = self.started.elapsed();
        let limited = !self.policy.max_elapsed.is_zero();
        if limited && elapsed >= self.policy.max_elapsed {
            return NextStep::GiveUp("max retry time elapsed");
        }
        let backoff = jitter(self.current);
        self.current = self
            .current
            .mul_f64(MULTIPLIER)
            .min(self.policy.max_interval);
        match throttle {
            Some(throttle) if throttle > backoff => {
                if limited && elapsed + throttle > self.policy.max_elapsed {
                    NextStep::GiveUp(
                        "the receiver's requested wait would exceed the max retry time",
                    )
                } else {
                    NextStep::Wait(throttle)
                }
            }
            _ => NextStep::Wait(backoff),
        }
    }
}

/// A uniformly random interval within ±50% of `interval`.
fn jitter(interval: Duration) -> Duration {
    let delta = interval.as_secs_f64() * RANDOMIZATION_FACTOR;
    let low = interval.as_secs_f64() - delta;
    Duration::from_secs_f64(low + fastrand::f64() * 2.0 * delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial_ms: u64, max_ms: u64, elapsed_ms: u64) -> RetryPolicy {
        RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(initial_ms),
            max_interval: Duration::from_millis(max_ms),
            max_elapsed: Duration::from_millis(elapsed_ms),
        }
    }

    #[test]
    fn intervals_grow_with_jitter_and_are_capped() {
        let mut b = Backoff::new(policy(100, 300, 60_000));
        let mut expected = 100.0f64;
        for _ in 0..8 {
            let NextStep::Wait(d) = b.next(None) else {
                panic!("gave up too early")
            };
            let ms = d.as_secs_f64() * 1000.0;
            assert!(
                ms >= expected * 0.5 - 0.01 && ms <= expected * 1.5 + 0.01,
                "{ms} vs {expected}"
            );
            expected = (expected * 1.5).min(300.0);
        }
    }

    #[test]
    fn throttle_wins_when_longer_and_gives_up_past_budget() {
        let mut b = Backoff::new(policy(10, 20, 1_000));
        assert_eq!(
            b.next(Some(Duration::from_millis(500))),
            NextStep::Wait(Duration::from_millis(500))
        );
        assert!(matches!(
            b.next(Some(Duration::from_secs(5))),
            NextStep::GiveUp(_)
        ));
    }

    #[test]
    fn disabled_and_elapsed_give_up() {
        let mut off = Backoff::new(RetryPolicy {
            enabled: false,
            ..RetryPolicy::default()
        });
        assert!(matches!(off.next(None), NextStep::GiveUp(_)));
        let mut b = Backoff::new(policy(1, 1, 1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(b.next(None), NextStep::GiveUp(_)));
    }
}
