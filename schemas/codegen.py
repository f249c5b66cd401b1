"""What the compiled Avro writer and reader share: Python source built from a schema, then
compiled once.

:class:`SchemaSource` keeps the names the generated code uses (variables, constants, one
function per record type that contains itself) and turns the collected source into the entry
function. ``schemas/writer.py`` and ``schemas/reader.py`` each subclass it with the lines their
direction writes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SchemaSource"]


class SchemaSource:
    """Source under construction for one schema."""

    def __init__(self) -> None:
        self.named: dict[str, Any] = {}  # full name -> its schema, as met while walking
        self.functions: dict[str, str] = {}  # record full name -> function name
        self.sources: list[str] = []
        self.constants: dict[str, Any] = {}
        self._vars = 0
        self._expanding: list[str] = []  # records being written inline, outermost first

    def var(self) -> str:
        """A fresh local variable name."""
        self._vars += 1
        return f"v{self._vars}"

    def constant(self, value: Any) -> str:
        """The name under which ``value`` is in the generated code's globals."""
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def function_for(self, name: str) -> tuple[str, bool]:
        """The function of record ``name``, and whether its source is still to be written."""
        if name in self.functions:
            return self.functions[name], False
        function = f"_r{len(self.functions)}"
        self.functions[name] = function
        return function, True

    def build(self, base: dict[str, Any], entry: str, label: str) -> Any:
        """Compile the collected source with ``base`` and the constants as its globals; the
        function named ``entry``."""
        namespace = {**base, **self.constants}
        code = compile("\n\n".join(self.sources), label, "exec")
        exec(code, namespace)  # noqa: S102 -- source built from a schema file of this package
        return namespace[entry]
