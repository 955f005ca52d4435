//! What a configuration gives an instrument kind when no selector says otherwise.

use super::Config;
use crate::selectors::{InstrumentKind, Temporality};

impl Config {
    /// The temporality `kind` gets without a temporality selector: the environment's
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, mapped as the OTLP exporter
    /// specification says, else cumulative. A selector that wants to keep the default for
    /// some kinds asks this, since its answer cannot say "the default".
    pub fn default_temporality(&self, kind: InstrumentKind) -> Temporality {
        self.env.temporality.unwrap_or_default().temporality(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(vars)
    }

    #[test]
    fn default_temporality_follows_the_environment_and_ignores_the_selector() {
        use InstrumentKind::*;
        const PREFERENCE: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
        let plain = config(&[]);
        let low_memory = config(&[(PREFERENCE, "LowMemory")]);
        let mut delta = config(&[(PREFERENCE, "delta")]);
        delta.set_temporality_selector(Some(Arc::new(|_| Ok(Temporality::Cumulative))));
        let pick = |is_delta: bool| {
            if is_delta {
                Temporality::Delta
            } else {
                Temporality::Cumulative
            }
        };
        for kind in InstrumentKind::ALL {
            assert_eq!(plain.default_temporality(kind), Temporality::Cumulative);
            let want = pick(matches!(kind, Counter | ObservableCounter | Histogram));
            assert_eq!(delta.default_temporality(kind), want, "{kind:?}");
            let want = pick(matches!(kind, Counter | Histogram));
            assert_eq!(low_memory.default_temporality(kind), want, "{kind:?}");
        }
    }
}
