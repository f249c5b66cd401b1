"""The one part of the build pyproject.toml cannot state: the native extensions.

``schemas/_reader.c`` and ``schemas/_writer.c`` (the Avro reader and writer) and
``producer/_turns.c`` (the transcript's per-turn loops) are optional: where they cannot be
compiled (no C compiler or Python headers), the install goes on and the Python twins serve alone
(``AVAILABLE`` in ``voicelens.schemas.native_reader`` and ``native_writer``, and ``NATIVE`` in
``voicelens.producer.transcript``, are then False; the tests fail on it).
"""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"]
#: Each extension's module and its C file.
_NATIVE = {
    "voicelens.schemas._reader": "schemas/_reader.c",
    "voicelens.schemas._writer": "schemas/_writer.c",
    "voicelens.producer._turns": "producer/_turns.c",
}

setup(
    ext_modules=[
        Extension(name, [source], optional=True, extra_compile_args=_FLAGS)
        for name, source in _NATIVE.items()
    ]
)
