"""The one part of the build pyproject.toml cannot state: the native Avro reader and writer.

``schemas/_reader.c`` and ``schemas/_writer.c`` are optional: where they cannot be compiled (no
C compiler or Python headers), the install goes on and the codec reads and writes with the
Python reader and writer alone (``AVAILABLE`` in ``voicelens.schemas.native_reader`` and
``native_writer`` is then False; the tests fail on it).
"""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"]

setup(
    ext_modules=[
        Extension(
            f"voicelens.schemas.{name}",
            [f"schemas/{name}.c"],
            optional=True,
            extra_compile_args=_FLAGS,
        )
        for name in ("_reader", "_writer")
    ]
)
