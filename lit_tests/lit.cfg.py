# lit configuration for dagc's textual-IR tests (run: lit lit_tests/ -v).
import os
import shutil
import sys

import lit.formats

config.name = "dagc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".py"]
config.excludes = ["lit.cfg.py", "Inputs", "conftest.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.test_source_root, "Output")

config.environment["PYTHONHASHSEED"] = "0"
for var in ("PATH", "HOME", "PYTHONPATH", "VK_ICD_FILENAMES", "DAGC_NUM_THREADS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]

config.substitutions.append(("%python", sys.executable))
# The console scripts, run with the interpreter lit runs under.
config.substitutions.append(("dag-opt", f"{sys.executable} -m dagc.compiler.opt"))
config.substitutions.append(("dag-translate", f"{sys.executable} -m dagc.compiler.translate"))
config.substitutions.append(("dagc ", f"{sys.executable} -m dagc.compiler.cli "))

for tool in ("mlir-opt-22", "mlir-translate-22", "spirv-val"):
    if shutil.which(tool):
        config.available_features.add(tool)
