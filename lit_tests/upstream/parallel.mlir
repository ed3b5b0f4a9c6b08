// Upstream MLIR 22 accepts the outlined loops (scf level, mlir-opt-22) and their
// lowering to libgomp calls (llvm dialect -> LLVM IR, mlir-translate-22).
// REQUIRES: mlir-opt-22, mlir-translate-22
// RUN: dag-opt %s -p dagc-parallel-to-threads | mlir-opt-22 | filecheck %s --check-prefix=SCF
// RUN: dag-opt %s -p dagc-parallel-to-threads,convert-to-llvm | mlir-translate-22 --mlir-to-llvmir | filecheck %s --check-prefix=IR

// SCF-LABEL: func.func @fill(
// SCF:         call @fill_par0(%{{.*}}, %{{.*}}, %{{.*}}) {dagc.parallel} : (index, index, memref<512x512xf32>) -> ()
// SCF-LABEL: func.func private @fill_par0(

// IR:      @dagc_num_threads = external global i32
// IR-LABEL: define void @fill(
// IR:        %[[DATA:.*]] = alloca { i64, i64, ptr }, i64 1, align 8
// IR:        call void @GOMP_parallel(ptr @fill_par0_omp, ptr %[[DATA]], i32 %{{.*}}, i32 0)
// IR-LABEL: define internal void @fill_par0_omp(ptr %{{.*}})
// IR:        call i32 @omp_get_thread_num()
// IR:        call i32 @omp_get_num_threads()
// IR:        call void @fill_par0(i64 %{{.*}}, i64 %{{.*}}, ptr %{{.*}})
func.func @fill(%y: memref<512x512xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c512 = arith.constant 512 : index
  %one = arith.constant 1.0 : f32
  "scf.parallel"(%c0, %c0, %c512, %c512, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
  ^bb0(%i: index, %j: index):
    memref.store %one, %y[%i, %j] : memref<512x512xf32>
    scf.reduce
  }) : (index, index, index, index, index, index) -> ()
  func.return
}
