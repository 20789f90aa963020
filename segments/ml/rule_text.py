"""The rule language as text, for people: `monetary > 100 and (country = "Germany" or frequency between 5 and 20)`.

Rules are stored as JSON (segments.ml.rules); people read and type them as text. `rule_from_text` turns the
text into that JSON (which `parse_rule` then checks against the known fields), `rule_to_text` writes a stored
rule back as text, and the two round-trip. Grammar, `and` binding tighter than `or`:

    rule      := term ("or" term)*
    term      := factor ("and" factor)*
    factor    := "(" rule ")" | condition
    condition := field op value          op: = != ≠ < <= ≤ > >= ≥ contains
               | field "in" "[" value ("," value)* "]"
               | field "between" value "and" value
               | field "within" "last"? number "days"?     (within the last N days)
    value     := number | "quoted text" | 'quoted text' | true | false | 2025-01-31 | a bare word

A mistake is a RuleTextError naming the character where it is and what was expected there.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from segments.ml.rules import OPERATORS

COMPARISONS = {"=", "==", "!=", "≠", "<", "<=", "≤", ">", ">=", "≥"}
KEYWORDS = {"and", "or", "in", "between", "contains", "within", "true", "false"}
# Stored operator -> how it is written; within_last_days is written as "within N days".
WRITTEN = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
# Comparison as written -> stored operator, as the rule checker reads them.
CANONICAL = {written: OPERATORS[written] for written in COMPARISONS}
TOKEN = re.compile(
    r"""\s*(?:
      (?P<text>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<date>\d{4}-\d{2}-\d{2}(?:[T\x20]\d{2}:\d{2}(?::\d{2})?)?)
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<comparison><=|>=|!=|==|[=<>≠≤≥])
    | (?P<punctuation>[()\[\],])
    | (?P<word>[^\s()\[\],=<>!≠≤≥"']+)
    )""",
    re.VERBOSE,
)


# What was expected where the text went wrong (the form translates these by key).
EXPECTED = {
    "end": "expected 'and', 'or' or the end of the rule",
    "unreadable": "cannot read this",
    "more": "the rule stops too early",
    "close": "expected ')' to close the '('",
    "field": "expected a field name such as monetary, country or attributes.tier",
    "between": "expected 'and' between the two bounds, as in 'between 5 and 20'",
    "operator": "expected an operator after {field!r}: =, !=, <, <=, >, >=, in, between, contains or within",
    "list": 'expected a list in brackets, as in ["DE", "AT"]',
    "list_end": "expected ',' or the closing ']' of the list",
    "value": 'expected a value: a number, "quoted text", true or false',
}


class RuleTextError(ValueError):
    """Text that is not a rule; the message says where (character N) and what was expected.

    `position` (1-based, None at the end of the text), `found` (the text there), `expected` (a key of EXPECTED)
    and `field` let a caller word the message in another language.
    """

    def __init__(self, expected: str, *, position: int | None, found: str = "", field: str = ""):
        self.expected, self.position, self.found, self.field = expected, position, found, field
        where = f"Character {position}, at {found!r}" if position is not None else "At the end of the rule"
        super().__init__(f"{where}: {EXPECTED[expected].format(field=field)}.")


def rule_from_text(text: str) -> dict:
    """The JSON rule for `text`; {} for blank text (no rule)."""
    if not text.strip():
        return {}
    parser = _Parser(text)
    rule = parser.rule()
    if parser.peek() is not None:
        parser.fail("end")
    return rule


def rule_to_text(rule: Any) -> str:
    """A stored rule as text that `rule_from_text` reads back to the same rule; '' for no rule."""
    if not rule:
        return ""
    return _written(rule, top=True)


def _written(rule: dict, *, top: bool = False) -> str:
    for combinator, joiner in (("all", " and "), ("any", " or ")):
        if combinator in rule:
            text = joiner.join(_written(child) for child in rule[combinator])
            return text if top or len(rule[combinator]) == 1 else f"({text})"
    field, op, value = rule.get("field"), str(rule.get("op", "")), rule.get("value")
    canonical = CANONICAL.get(op, op)
    if canonical in WRITTEN:
        return f"{field} {WRITTEN[canonical]} {_value(value)}"
    if canonical == "between" and isinstance(value, list) and len(value) == 2:
        return f"{field} between {_value(value[0])} and {_value(value[1])}"
    if canonical == "in" and isinstance(value, list):
        return f"{field} in [{', '.join(_value(v) for v in value)}]"
    if canonical in {"within_last_days", "within the last days", "within"}:
        return f"{field} within {_value(value)} days"
    return f"{field} {op} {_value(value)}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            if not text[position:].strip():
                break
            match = TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise RuleTextError("unreadable", position=position + 1, found=text[position : position + 10])
            kind = match.lastgroup
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def fail(self, expected: str, *, field: str = ""):
        token = self.peek()
        if token is None:
            raise RuleTextError(expected, position=None, field=field)
        raise RuleTextError(expected, position=token[2] + 1, found=token[1], field=field)

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            self.fail("more")
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.index += 1
            return True
        return False

    def punctuation(self, mark: str) -> bool:
        token = self.peek()
        if token and token[0] == "punctuation" and token[1] == mark:
            self.index += 1
            return True
        return False

    def rule(self) -> dict:
        terms = [self.term()]
        while self.keyword("or"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else {"any": terms}

    def term(self) -> dict:
        factors = [self.factor()]
        while self.keyword("and"):
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else {"all": factors}

    def factor(self) -> dict:
        if self.punctuation("("):
            rule = self.rule()
            if not self.punctuation(")"):
                self.fail("close")
            return rule
        return self.condition()

    def condition(self) -> dict:
        token = self.peek()
        if token is None or token[0] != "word" or token[1].lower() in KEYWORDS:
            self.fail("field")
        field = self.take()[1]
        token = self.peek()
        if token and token[0] == "comparison":
            op = self.take()[1]
            return {"field": field, "op": op, "value": self.value()}
        if self.keyword("contains"):
            return {"field": field, "op": "contains", "value": self.value()}
        if self.keyword("in"):
            return {"field": field, "op": "in", "value": self.values()}
        if self.keyword("between"):
            low = self.value()
            if not self.keyword("and"):
                self.fail("between")
            return {"field": field, "op": "between", "value": [low, self.value()]}
        if self.keyword("within"):
            self.keyword("last", "the")
            self.keyword("last")
            days = self.value()
            self.keyword("days", "day")
            return {"field": field, "op": "within_last_days", "value": days}
        self.fail("operator", field=field)

    def values(self) -> list:
        if not self.punctuation("[") and not self.punctuation("("):
            self.fail("list")
        values = [self.value()]
        while self.punctuation(","):
            values.append(self.value())
        if not self.punctuation("]") and not self.punctuation(")"):
            self.fail("list_end")
        return values

    def value(self) -> Any:
        token = self.peek()
        if (
            token is None
            or token[0] in {"comparison", "punctuation"}
            or token[1].lower() in KEYWORDS - {"true", "false"}
        ):
            self.fail("value")
        kind, text, _ = self.take()
        if kind == "text":
            return ast.literal_eval(text)
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() and re.fullmatch(r"-?\d+", text) else number
        if text.lower() in {"true", "false"}:
            return text.lower() == "true"
        return text  # a date, or a bare word taken as text
