"""A wrapper that keeps a token out of reprs, f-strings, logs and tracebacks."""

from __future__ import annotations

from typing import Final, NoReturn

_MASK: Final = "****"


class Token:
    """An API token. `str()` and `repr()` are masked; `reveal()` is the one way to the clear text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or any(c.isspace() for c in value):
            raise ValueError("a token is one non-empty word")
        self._value = value

    def reveal(self) -> str:
        """The clear text: call only where the token is delivered or sent to the registry."""
        return self._value

    def __repr__(self) -> str:
        return f"Token({_MASK})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("tokens are not picklable")
