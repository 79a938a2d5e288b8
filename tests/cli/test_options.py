"""The shared ``--config``/``--preset``/``--set`` options."""

from __future__ import annotations

import subprocess
import sys

from sflaudit.config import PRESETS
from sflaudit.cli.options import PresetOpt


def test_preset_help__lists_every_preset_in_order() -> None:
    help_text = PresetOpt.__metadata__[0].help
    assert help_text.startswith(" | ".join(PRESETS) + " ")
    assert "paper-resnet18-20c" in help_text  # the list is PRESETS, not empty


def test_options__import_no_torch() -> None:
    code = "import sys, sflaudit.cli.options; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "False", res.stderr
