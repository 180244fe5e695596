"""What sql_lookup accepts as a statement: exactly one SELECT (or WITH … SELECT), parameters bound by name or
position, never a value spliced into the text. Checked on the text with string literals, quoted names and comments
taken out; the database adapter enforces the same again (read-only connection, an authorizer allowing reads only)."""

from __future__ import annotations

import re

LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/", re.DOTALL)
WRITES = re.compile(r"\b(insert|update|delete|drop|create|alter|attach|detach|pragma|vacuum|reindex|analyze|"
                    r"begin|commit|rollback|savepoint|release|upsert)\b", re.IGNORECASE)
PARAMETER = re.compile(r"[:$@]([A-Za-z_][A-Za-z0-9_]*|\d+)")


def statement_problem(sql: str) -> str | None:
    """Why `sql` is not a single read-only SELECT, or None."""
    bare = LITERALS.sub(" ", sql).strip()
    if bare.endswith(";"):
        bare = bare[:-1].rstrip()
    if ";" in bare:
        return "must be a single statement (no ';' between statements)"
    first = bare.split(None, 1)[0].lower() if bare else ""
    if first not in ("select", "with"):
        return "must be a SELECT statement"
    write = WRITES.search(bare)
    if write:
        return f"may only read: '{write.group(1).upper()}' is not allowed"
    if "?" in bare:
        return "use named ($name, :name) or numbered ($1) parameters, not '?'"
    return None


def parameter_names(sql: str) -> list[str]:
    """The parameters the statement binds ($1, :sku, @sku, $sku → '1', 'sku'), in order of first use."""
    names: list[str] = []
    for name in PARAMETER.findall(LITERALS.sub(" ", sql)):
        if name not in names:
            names.append(name)
    return names
