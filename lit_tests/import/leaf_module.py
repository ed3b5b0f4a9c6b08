# torch-dag's MyStrangeActivation: untraceable without leaf_modules (with the automatic
# fallback off: one aggregated error naming the module, its class and location, and
# the fix), opaque with it.
# RUN: %python %s | filecheck %s

import dagc
from dagc.examples.models import MyStrangeActivation, get_model

model, inputs = get_model("strange_activation")
try:
    dagc.import_torch(model, inputs, fallback="none")
except dagc.ImportError_ as e:
    print(e)
# CHECK: torch.fx cannot trace the model:
# CHECK-NEXT: - strange_act [dagc.examples.models.MyStrangeActivation] ({{.*}}models.py:{{[0-9]+}}): torch.fx cannot trace it
# CHECK-NEXT: fix: pass its class in leaf_modules=(...)

m = dagc.import_torch(model, inputs, leaf_modules=(MyStrangeActivation,))
print(m.to_text(elide_larger_than=0))
# CHECK: dag.conv2d "conv1"
# CHECK-NEXT: dag.opaque "strange_act"({{.*}}) {class = "dagc.examples.models.MyStrangeActivation", state = []}
# CHECK: dag.adaptive_avg_pool2d "pool"
