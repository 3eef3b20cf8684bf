"""Ships the firmware sources inside the wheel as ``firmwatch/firmware``.

``firmwatch sim`` builds the simulated devices from source; from an installed wheel there is no
checkout, so the C sources (not build outputs) travel as package data. Everything else about
the package is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SKIP = shutil.ignore_patterns("build", "target", "*.o", "*.elf", "*.hex", "__pycache__")


class BuildPyWithFirmware(build_py):
    def run(self) -> None:
        super().run()
        src = Path(__file__).parent / "firmware"
        if src.is_dir() and not self.editable_mode:
            dst = Path(self.build_lib) / "firmwatch" / "firmware"
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=SKIP)


setup(cmdclass={"build_py": BuildPyWithFirmware})
