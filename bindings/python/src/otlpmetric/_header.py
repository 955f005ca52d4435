"""Reading the generated C header ``otlpmetric.h``.

Two users: the cffi front feeds :func:`cdef_source` to ``ffi.cdef`` (the header minus its
preprocessor lines and its ``extern "C"`` wrapper, declarations untouched), and the
ctypes front compares its hand-written declarations with :func:`parse` (names, argument
counts and types, struct fields, enum values) so that a header change that the Python
side has not followed is found instead of corrupting memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

__all__ = ["cdef_source", "parse", "HeaderInfo", "normalize_type"]

_EXTERN_OPEN = re.compile(r'^\s*extern\s+"C"\s*\{\s*(//.*)?$')
_CLOSE_BRACE_ONLY = re.compile(r"^\s*\}\s*(//.*|/\*.*\*/)?\s*$")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _strip_comments(text: str) -> str:
    return _COMMENTS.sub(" ", text)


def cdef_source(header_text: str) -> str:
    """The header as ``ffi.cdef`` reads it: every preprocessor line removed, and the
    ``extern "C" {`` line and its closing ``}`` removed. Nothing else is changed."""
    out: List[str] = []
    in_wrapper = False
    depth = 0  # brace depth of the declarations themselves (enum and struct bodies)
    in_block_comment = False
    for line in header_text.splitlines():
        stripped = line.strip()
        if not in_block_comment:
            if stripped.startswith("#"):
                continue
            if _EXTERN_OPEN.match(line):
                in_wrapper = True
                continue
            if in_wrapper and depth == 0 and _CLOSE_BRACE_ONLY.match(line):
                in_wrapper = False
                continue
        # Track braces and block comments so that only the wrapper's own brace goes.
        code, in_block_comment = _code_part(line, in_block_comment)
        depth += code.count("{") - code.count("}")
        out.append(line)
    return "\n".join(out) + "\n"


def _code_part(line: str, in_block_comment: bool) -> Tuple[str, bool]:
    """The parts of ``line`` outside comments, and whether a block comment is open after it."""
    code = []
    i = 0
    while i < len(line):
        if in_block_comment:
            end = line.find("*/", i)
            if end < 0:
                return "".join(code), True
            i = end + 2
            in_block_comment = False
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_block_comment = True
            i += 2
        else:
            code.append(line[i])
            i += 1
    return "".join(code), in_block_comment


def normalize_type(c_type: str) -> str:
    """``const struct otlpmetric_config *`` -> ``otlpmetric_config *``: qualifiers and the
    ``struct``/``enum`` keywords dropped, one space before the stars."""
    tokens = re.findall(r"\w+|\*", c_type)
    words = [t for t in tokens if t not in ("const", "struct", "enum", "volatile") and t != "*"]
    stars = tokens.count("*")
    return " ".join(words) + (" " + "*" * stars if stars else "")


def _split_params(params: str) -> List[str]:
    params = params.strip()
    if params in ("", "void"):
        return []
    result = []
    for p in params.split(","):
        p = p.strip()
        m = re.match(r"^(.*?[\s\*])(\w+)\s*$", p)
        result.append(normalize_type(m.group(1) if m else p))
    return result


@dataclass
class HeaderInfo:
    """What :func:`parse` found: normalized C type names throughout."""

    #: name -> (return type, [parameter types])
    functions: Dict[str, Tuple[str, List[str]]] = field(default_factory=dict)
    #: function-pointer typedef name -> (return type, [parameter types])
    callbacks: Dict[str, Tuple[str, List[str]]] = field(default_factory=dict)
    #: struct name -> [(field name, type)]
    structs: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)
    #: enum name -> {constant name: value}
    enums: Dict[str, Dict[str, int]] = field(default_factory=dict)
    #: ``#define NAME <integer>`` constants
    defines: Dict[str, int] = field(default_factory=dict)


def parse(header_text: str) -> HeaderInfo:
    """Parses the declarations of the generated header (its own regular style only)."""
    info = HeaderInfo()
    for m in re.finditer(r"^\s*#\s*define\s+(\w+)\s+(-?(?:0x[0-9a-fA-F]+|\d+))\s*$", header_text, re.M):
        info.defines[m.group(1)] = int(m.group(2), 0)
    text = _strip_comments(cdef_source(header_text))

    def drop(m: "re.Match[str]") -> str:
        return ";"

    for m in re.finditer(r"typedef\s+enum\s+\w*\s*\{(.*?)\}\s*(\w+)\s*;", text, re.S):
        members = {}
        for item in m.group(1).split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            members[name.strip()] = int(value.strip(), 0)
        info.enums[m.group(2)] = members
    text = re.sub(r"typedef\s+enum\s+\w*\s*\{.*?\}\s*\w+\s*;", drop, text, flags=re.S)

    for m in re.finditer(r"typedef\s+struct\s+\w*\s*\{(.*?)\}\s*(\w+)\s*;", text, re.S):
        fields = []
        for decl in m.group(1).split(";"):
            decl = decl.strip()
            if not decl:
                continue
            fm = re.match(r"^(.*?[\s\*])(\w+)$", decl, re.S)
            if fm:
                fields.append((fm.group(2), normalize_type(fm.group(1))))
        info.structs[m.group(2)] = fields
    text = re.sub(r"typedef\s+struct\s+\w*\s*\{.*?\}\s*\w+\s*;", drop, text, flags=re.S)

    for m in re.finditer(r"typedef\s+([^;{}()]*?)\(\s*\*\s*(\w+)\s*\)\s*\(([^;]*?)\)\s*;", text, re.S):
        info.callbacks[m.group(2)] = (normalize_type(m.group(1)), _split_params(m.group(3)))
    text = re.sub(r"typedef[^;]*;", drop, text, flags=re.S)

    for m in re.finditer(r"([^;{}()]*?)\b(otlpmetric_\w+)\s*\(([^;{}]*?)\)\s*;", text, re.S):
        info.functions[m.group(2)] = (normalize_type(m.group(1)), _split_params(m.group(3)))
    return info
