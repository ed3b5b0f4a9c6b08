# Every spelling of an operation imports as one dag op.
# RUN: %python %s | filecheck %s
import operator

import torch
import torch.nn as nn
import torch.nn.functional as F

import dagc


class Spellings(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x, y):
        a = x + y
        b = torch.add(x, y)
        c = x.add(y)
        d = operator.add(x, y)
        e = x.clone()
        e.add_(y)
        f = self.act(a) + F.relu(b) + torch.relu(c) + d.relu() + e
        return f.flatten(1)


x, y = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
print(dagc.import_torch(Spellings(), (x, y)))

# CHECK-LABEL: func.func @forward(%x: tensor<2x3x4xf32>, %y: tensor<2x3x4xf32>) -> tensor<2x12xf32>
# CHECK-NEXT:  %0 = dag.add "add"(%x, %y)
# CHECK-NEXT:  %1 = dag.add "add_1"(%x, %y)
# CHECK-NEXT:  %2 = dag.add "add_2"(%x, %y)
# CHECK-NEXT:  %3 = dag.add "add_3"(%x, %y)
# The in-place add on the (identity) clone of x:
# CHECK-NEXT:  %4 = dag.add "add_"(%x, %y)
# CHECK-NEXT:  %5 = dag.relu "act"(%0)
# CHECK-NEXT:  %6 = dag.relu "relu"(%1)
# CHECK-NEXT:  dag.add
# CHECK-NEXT:  dag.relu "relu_1"(%2)
# CHECK-NEXT:  dag.add
# CHECK-NEXT:  dag.relu "relu_2"(%3)
# CHECK-NEXT:  dag.add
# Later uses of the mutated tensor read the in-place result:
# CHECK-NEXT:  %12 = dag.add "add_7"(%11, %4)
# CHECK-NEXT:  dag.reshape "flatten"(%12) : (tensor<2x3x4xf32>) -> tensor<2x12xf32>
# CHECK-NEXT:  func.return
