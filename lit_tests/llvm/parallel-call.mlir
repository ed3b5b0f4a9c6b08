// RUN: dag-opt %s -p convert-to-llvm | filecheck %s
// RUN: dag-opt %s -p convert-to-llvm | dag-translate --mlir-to-llvmir | filecheck %s --check-prefix=IR

// A {dagc.parallel} call runs on a libgomp team: serially when @dagc_num_threads is
// 1, else through GOMP_parallel with a thunk that loads the arguments from a stack
// struct (allocated in the entry block) and runs its thread's static chunk.

// CHECK:       llvm.mlir.global external @dagc_num_threads() {addr_space = 0 : i32} : i32
// CHECK:       llvm.func @GOMP_parallel(!llvm.ptr, !llvm.ptr, i32, i32)
// CHECK:       llvm.func @omp_get_num_threads() -> i32
// CHECK:       llvm.func @omp_get_thread_num() -> i32

// CHECK-LABEL: llvm.func @scale(
// CHECK-SAME:      %[[X:.*]]: !llvm.ptr, %[[A:.*]]: f32)
// CHECK-NEXT:    %[[ONE:.*]] = llvm.mlir.constant(1) : i64
// CHECK-NEXT:    %[[DATA:.*]] = llvm.alloca %[[ONE]] x !llvm.struct<(i64, i64, !llvm.ptr, f32)> {alignment = 8 : i64} : (i64) -> !llvm.ptr
// CHECK:         %[[COUNT:.*]] = llvm.mlir.addressof @dagc_num_threads : !llvm.ptr
// CHECK-NEXT:    %[[N:.*]] = llvm.load %[[COUNT]] : !llvm.ptr -> i32
// CHECK-NEXT:    %[[C1:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK-NEXT:    %[[SERIAL:.*]] = llvm.icmp "eq" %[[N]], %[[C1]] : i32
// CHECK-NEXT:    llvm.cond_br %[[SERIAL]], ^[[ONE_THREAD:.*]], ^[[TEAM:.*]]
// CHECK-NEXT:  ^[[ONE_THREAD]]:
// CHECK-NEXT:    llvm.call @scale_par0(%[[B:.*]], %[[E:.*]], %[[X]], %[[A]]) : (i64, i64, !llvm.ptr, f32) -> ()
// CHECK-NEXT:    llvm.br ^[[NEXT:.*]]
// CHECK-NEXT:  ^[[TEAM]]:
// CHECK-NEXT:    %[[F0:.*]] = llvm.getelementptr %[[DATA]][0, 0] : (!llvm.ptr) -> !llvm.ptr, !llvm.struct<(i64, i64, !llvm.ptr, f32)>
// CHECK-NEXT:    llvm.store %[[B]], %[[F0]] : i64, !llvm.ptr
// CHECK-NEXT:    %[[F1:.*]] = llvm.getelementptr %[[DATA]][0, 1]
// CHECK-NEXT:    llvm.store %[[E]], %[[F1]] : i64, !llvm.ptr
// CHECK-NEXT:    %[[F2:.*]] = llvm.getelementptr %[[DATA]][0, 2]
// CHECK-NEXT:    llvm.store %[[X]], %[[F2]] : !llvm.ptr, !llvm.ptr
// CHECK-NEXT:    %[[F3:.*]] = llvm.getelementptr %[[DATA]][0, 3]
// CHECK-NEXT:    llvm.store %[[A]], %[[F3]] : f32, !llvm.ptr
// CHECK-NEXT:    %[[FN:.*]] = llvm.mlir.addressof @scale_par0_omp : !llvm.ptr
// CHECK-NEXT:    %[[FLAGS:.*]] = llvm.mlir.constant(0 : i32) : i32
// CHECK-NEXT:    llvm.call @GOMP_parallel(%[[FN]], %[[DATA]], %[[N]], %[[FLAGS]]) : (!llvm.ptr, !llvm.ptr, i32, i32) -> ()
// CHECK-NEXT:    llvm.br ^[[NEXT]]
// CHECK-NEXT:  ^[[NEXT]]:
// CHECK-NEXT:    llvm.return

// Thread t of T runs q + (t < r) iterations from begin + t * q + min(t, r), where
// q, r = divmod(end - begin, T).
// CHECK-LABEL: llvm.func internal @scale_par0_omp(
// CHECK-SAME:      %[[P:.*]]: !llvm.ptr)
// CHECK:         %[[BEGIN:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i64
// CHECK:         %[[END:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i64
// CHECK:         %[[XP:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
// CHECK:         %[[AV:.*]] = llvm.load %{{.*}} : !llvm.ptr -> f32
// CHECK-NEXT:    %[[T32:.*]] = llvm.call @omp_get_thread_num() : () -> i32
// CHECK-NEXT:    %[[NT32:.*]] = llvm.call @omp_get_num_threads() : () -> i32
// CHECK-NEXT:    %[[T:.*]] = llvm.sext %[[T32]] : i32 to i64
// CHECK-NEXT:    %[[NT:.*]] = llvm.sext %[[NT32]] : i32 to i64
// CHECK-NEXT:    %[[TOTAL:.*]] = llvm.sub %[[END]], %[[BEGIN]] : i64
// CHECK-NEXT:    %[[Q:.*]] = llvm.sdiv %[[TOTAL]], %[[NT]] : i64
// CHECK-NEXT:    %[[R:.*]] = llvm.srem %[[TOTAL]], %[[NT]] : i64
// CHECK-NEXT:    %[[LONGER:.*]] = llvm.icmp "slt" %[[T]], %[[R]] : i64
// CHECK-NEXT:    %[[EXTRA:.*]] = llvm.zext %[[LONGER]] : i1 to i64
// CHECK-NEXT:    %[[MIN:.*]] = llvm.select %[[LONGER]], %[[T]], %[[R]] : i1, i64
// CHECK-NEXT:    %[[FULL:.*]] = llvm.mul %[[T]], %[[Q]] : i64
// CHECK-NEXT:    %[[OFFSET:.*]] = llvm.add %[[FULL]], %[[MIN]] : i64
// CHECK-NEXT:    %[[LO:.*]] = llvm.add %[[BEGIN]], %[[OFFSET]] : i64
// CHECK-NEXT:    %[[SIZE:.*]] = llvm.add %[[Q]], %[[EXTRA]] : i64
// CHECK-NEXT:    %[[HI:.*]] = llvm.add %[[LO]], %[[SIZE]] : i64
// CHECK-NEXT:    llvm.call @scale_par0(%[[LO]], %[[HI]], %[[XP]], %[[AV]]) : (i64, i64, !llvm.ptr, f32) -> ()
// CHECK-NEXT:    llvm.return

// IR:      @"dagc_num_threads" = external global i32
// IR:      declare void @"GOMP_parallel"(ptr %{{.*}}, ptr %{{.*}}, i32 %{{.*}}, i32 %{{.*}})
// IR:      define void @"scale"(
// IR:        alloca {i64, i64, ptr, float}, i64 1, align 8
// IR:        load i32, i32* @"dagc_num_threads"
// IR:        store float %{{.*}}, ptr %{{.*}}
// IR:        call ccc void @"GOMP_parallel"(void (ptr)* @"scale_par0_omp",
// IR:      define internal void @"scale_par0_omp"(ptr %{{.*}})
// IR:        call ccc i32 @"omp_get_thread_num"()
func.func private @scale_par0(%begin: index, %end: index, %x: memref<4096xf32>, %a: f32) {
  %c1 = arith.constant 1 : index
  scf.for %i = %begin to %end step %c1 {
    %v = memref.load %x[%i] : memref<4096xf32>
    %s = arith.mulf %v, %a : f32
    memref.store %s, %x[%i] : memref<4096xf32>
  }
  func.return
}
func.func @scale(%x: memref<4096xf32>, %a: f32) {
  %begin = arith.constant 0 : index
  %end = arith.constant 4096 : index
  func.call @scale_par0(%begin, %end, %x, %a) {dagc.parallel} : (index, index, memref<4096xf32>, f32) -> ()
  func.return
}
