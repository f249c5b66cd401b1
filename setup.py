"""The one part of the build pyproject.toml cannot state: the native extensions.

``schemas/_reader.c`` and ``schemas/_writer.c`` (the Avro reader and writer) and
``producer/_turns.c`` (the transcript's per-turn loops) are optional: where they cannot be
compiled (no C compiler or Python headers), the install goes on and the Python twins serve alone
(``AVAILABLE`` in ``voicelens.schemas.native_reader`` and ``native_writer``, and ``NATIVE`` in
``voicelens.producer.transcript``, are then False; the tests fail on it).
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
    + [
        Extension(
            "voicelens.producer._turns",
            ["producer/_turns.c"],
            optional=True,
            extra_compile_args=_FLAGS,
        )
    ]
)
