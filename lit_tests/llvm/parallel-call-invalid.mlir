// RUN: not dag-opt %s -p convert-func-to-llvm 2>&1 | filecheck %s

// A {dagc.parallel} call is lowered after the loops around it (convert-to-llvm
// runs convert-scf-to-cf first): alone, convert-func-to-llvm refuses it in a loop.

// CHECK-NOT: Traceback
// CHECK: parallel-call-invalid.mlir: error: a dagc.parallel call must be in a function's body, not in a 'scf.for' (lower scf to cf first)
func.func private @f_par0(%begin: index, %end: index) {
  func.return
}
func.func @f(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    func.call @f_par0(%c0, %n) {dagc.parallel} : (index, index) -> ()
  }
  func.return
}
