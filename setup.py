"""The one part of the build pyproject.toml cannot state: the native Avro reader.

``schemas/_reader.c`` is optional: where it cannot be compiled (no C compiler or Python
headers), the install goes on and the codec reads with the Python reader alone
(``voicelens.schemas.native_reader.AVAILABLE`` is then False; the tests fail on it).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "voicelens.schemas._reader",
            ["schemas/_reader.c"],
            optional=True,
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"],
        )
    ]
)
