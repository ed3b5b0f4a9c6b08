"""
The CPU runtime: LLVM IR text -> optimized native code, in process, with llvmlite.

    module = CpuModule(translate_to_llvmir(llvm_dialect_module))
    matmul = module.get_function(
        "matmul",
        [ArgSpec.array((4, 8), np.float32), ArgSpec.array((8, 2), np.float32),
         ArgSpec.array((4, 2), np.float32)],
    )
    matmul(a, b, c)          # numpy arrays; their data pointers are passed

Functions follow the bare pointer convention of `lowering/func_to_llvm.py`: a
memref argument is the pointer to the data of a C-contiguous numpy array, `index`
is int64, other scalars are passed by value. By default code is generated for the
host (`llvm.get_host_cpu_name()`, `get_host_cpu_features()`); `triple=` and `cpu=`
give object code for another target (e.g. `aarch64-unknown-linux-gnu`), which can be
emitted but not run. The module is optimized at O3 with LLVM's new pass manager.

Loops that `dagc-parallel-to-threads` outlined run on libgomp's thread team (see
`lowering/func_to_llvm.py`): the code declares the i32 global `dagc_num_threads`, the
team size, and this runtime defines it, one variable for the whole process that
every JIT resolves the symbol to. Whenever code is loaded (a `CpuModule` run in
process or an object file from `load_object`) it is set to `get_num_threads()`:
`set_num_threads(n)` if called, else the environment variable `DAGC_NUM_THREADS`,
else the CPUs this process may run on; `set_num_threads` sets it at once, for the
code already loaded too. libgomp is the system's (`libgomp.so.1`, the one torch
loads too); without it, parallel loops run serially, with a warning.
"""

import ctypes
import ctypes.util
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import llvmlite.binding as llvm
import numpy as np
from xdsl.dialects.builtin import FunctionType, IndexType, MemRefType
from xdsl.ir import Attribute

from dagc.ir import numpy_dtype

NUM_THREADS = "dagc_num_threads"
"""The i32 global holding the thread count of parallel calls (0: libgomp's default,
1: serial): declared by the generated code (`dagc-func-to-llvm`), defined and set
by this runtime. (Defined here, not in the lowering, so that loading compiled code
imports no lowering.)"""

_CTYPES: dict[np.dtype[Any], type[Any]] = {
    np.dtype(np.float32): ctypes.c_float,
    np.dtype(np.float64): ctypes.c_double,
    np.dtype(np.bool_): ctypes.c_bool,
    np.dtype(np.int8): ctypes.c_int8,
    np.dtype(np.int16): ctypes.c_int16,
    np.dtype(np.int32): ctypes.c_int32,
    np.dtype(np.int64): ctypes.c_int64,
    np.dtype(np.uint8): ctypes.c_uint8,
    np.dtype(np.uint16): ctypes.c_uint16,
    np.dtype(np.uint32): ctypes.c_uint32,
    np.dtype(np.uint64): ctypes.c_uint64,
}


@dataclass(frozen=True)
class ArgSpec:
    """
    One argument (or the result) of a compiled function: a scalar of `dtype`
    passed by value (`shape` None) or a C-contiguous array of `dtype` and `shape`
    passed as a pointer to its data.
    """

    dtype: np.dtype[Any]
    shape: tuple[int, ...] | None = None

    @staticmethod
    def scalar(dtype: Any) -> "ArgSpec":
        """A scalar of numpy `dtype` (e.g. `np.float32`)."""
        return ArgSpec(np.dtype(dtype))

    @staticmethod
    def array(shape: Sequence[int], dtype: Any) -> "ArgSpec":
        """A C-contiguous array of `shape` and numpy `dtype`."""
        return ArgSpec(np.dtype(dtype), tuple(shape))


def _dtype(typ: Attribute) -> np.dtype[Any]:
    if isinstance(typ, IndexType):
        return np.dtype(np.int64)
    try:
        return numpy_dtype(typ)
    except TypeError as e:
        raise ValueError(str(e)) from e


def arg_spec(typ: Attribute) -> ArgSpec:
    """
    The `ArgSpec` of a `func.func` argument or result type: a memref is an array
    of its element type's dtype, `index` is int64, i1 is bool.

    Raises:
        ValueError: for a type numpy cannot hold (e.g. bf16).
    """
    if isinstance(typ, MemRefType):
        return ArgSpec(_dtype(typ.element_type), typ.get_shape())
    return ArgSpec(_dtype(typ))


def specs_from_signature(
    function_type: FunctionType,
) -> tuple[list[ArgSpec], ArgSpec | None]:
    """
    The argument specs and the result spec (None for no result) of a `func.func`
    of `function_type`, for `CpuModule.get_function`.

    Raises:
        ValueError: for several results or a memref result (not callable from
            Python under the bare pointer convention).
    """
    args = [arg_spec(t) for t in function_type.inputs]
    outputs = function_type.outputs.data
    if not outputs:
        return args, None
    result = arg_spec(outputs[0])
    if len(outputs) > 1 or result.shape is not None:
        raise ValueError(f"cannot call a function returning {outputs} from Python")
    return args, result


def _ctype(spec: ArgSpec) -> type[Any]:
    if spec.shape is not None:
        return ctypes.c_void_p
    if spec.dtype not in _CTYPES:
        raise ValueError(f"scalar arguments of dtype {spec.dtype} are not supported")
    return _CTYPES[spec.dtype]


class CompiledFunction:
    """
    A native function callable with numpy arrays and Python scalars, checked
    against its `ArgSpec`s. Keeps its `CpuModule` (and so its code) alive.
    """

    def __init__(
        self,
        module: "CpuModule",
        name: str,
        address: int,
        args: Sequence[ArgSpec],
        result: ArgSpec | None,
    ):
        self.module = module
        self.name = name
        self.args = tuple(args)
        self.result = result
        restype = None if result is None else _ctype(result)
        prototype = ctypes.CFUNCTYPE(restype, *(_ctype(a) for a in self.args))
        self._function = prototype(address)

    def _check(self, index: int, value: Any, spec: ArgSpec) -> Any:
        if spec.shape is None:
            if isinstance(value, np.ndarray):
                raise ValueError(
                    f"{self.name}: argument {index} must be a {spec.dtype} scalar, "
                    f"got an array"
                )
            return value
        if not isinstance(value, np.ndarray):
            raise ValueError(
                f"{self.name}: argument {index} must be a numpy array, "
                f"got {type(value).__name__}"
            )
        if value.dtype != spec.dtype:
            raise ValueError(
                f"{self.name}: argument {index} must have dtype {spec.dtype}, "
                f"got {value.dtype}"
            )
        if value.shape != spec.shape:
            raise ValueError(
                f"{self.name}: argument {index} must have shape {spec.shape}, "
                f"got {value.shape}"
            )
        if not value.flags.c_contiguous:
            raise ValueError(f"{self.name}: argument {index} must be C-contiguous")
        return address(value)

    def __call__(self, *values: Any) -> Any:
        """
        Run the function.

        Raises:
            ValueError: for a wrong number of arguments, or an argument of the
                wrong kind, dtype or shape, or a non-contiguous array.
        """
        if len(values) != len(self.args):
            raise ValueError(
                f"{self.name}: expected {len(self.args)} arguments, got {len(values)}"
            )
        c_args = [
            self._check(i, v, s)
            for i, (v, s) in enumerate(zip(values, self.args, strict=True))
        ]
        return self._function(*c_args)

    def unchecked(self, *values: Any) -> Any:
        """Run the function on raw arguments, checking nothing: an int address
        (:func:`address`) for each array argument, a Python scalar for each scalar
        one. The caller keeps the arrays alive and guarantees their specs (a wrong
        shape is an out-of-bounds access, not an error)."""
        return self._function(*values)

    def __repr__(self) -> str:
        return f"CompiledFunction({self.name!r}, {self.args}, {self.result})"


def address(array: np.ndarray) -> int:
    """The address of the data of a C-contiguous numpy `array`, for
    `CompiledFunction.unchecked`: through the buffer protocol (about 0.3 us) when
    the array is writable and not empty, else numpy's ctypes interface (about
    1.1 us; read-only arrays, e.g. of ``np.frombuffer(bytes)``, and empty ones)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(array))
    except (TypeError, ValueError, BufferError):
        return array.ctypes.data


_libm_loaded = False


def _load_libm() -> None:
    """Make libm's symbols (expf, erff, tanhf, ...) resolvable in the JIT."""
    global _libm_loaded
    if _libm_loaded:
        return
    libm = ctypes.util.find_library("m")
    if libm is not None:
        llvm.load_library_permanently(libm)
    _libm_loaded = True


_SERIAL_GOMP = """
define void @GOMP_parallel(ptr %fn, ptr %data, i32 %threads, i32 %flags) {
  call void %fn(ptr %data)
  ret void
}
define i32 @omp_get_thread_num() {
  ret i32 0
}
define i32 @omp_get_num_threads() {
  ret i32 1
}
"""
"""Stand-ins for the libgomp entry points the generated code calls: a team of one
thread, the caller, runs the region."""

_gomp: Any = None  # True once libgomp is loaded, or the engine of the stand-ins


def _load_gomp() -> None:
    """
    Make `GOMP_parallel`, `omp_get_thread_num` and `omp_get_num_threads`
    resolvable in the JIT: from libgomp, or else (with a RuntimeWarning) from
    `_SERIAL_GOMP`, compiled here, so that parallel loops run serially.
    """
    global _gomp
    if _gomp is not None:
        return
    libgomp = ctypes.util.find_library("gomp")
    if libgomp is not None:
        try:
            llvm.load_library_permanently(libgomp)
            _gomp = True
            return
        except RuntimeError:
            pass
    warnings.warn(
        "dagc: libgomp (OpenMP) could not be loaded; parallel loops run on one thread",
        RuntimeWarning,
        stacklevel=2,
    )
    module = llvm.parse_assembly(_SERIAL_GOMP)
    machine = llvm.Target.from_default_triple().create_target_machine(jit=True)
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    for name in ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads"):
        llvm.add_symbol(name, engine.get_function_address(name))
    _gomp = engine


_num_threads: int | None = None
_thread_count = ctypes.c_int32(0)
"""The process's `dagc_num_threads`, which every loaded module reads: the symbol
resolves to it in every JIT of the process (`llvm.add_symbol`, below)."""
llvm.add_symbol(NUM_THREADS, ctypes.addressof(_thread_count))


def get_num_threads() -> int:
    """
    The team size of parallel loops in code loaded from now on: the last
    `set_num_threads`, else `DAGC_NUM_THREADS`, else the number of CPUs this
    process may run on (`os.sched_getaffinity`).

    Raises:
        ValueError: when `DAGC_NUM_THREADS` is not a positive integer.
    """
    if _num_threads is not None:
        return _num_threads
    return cpu_count_from_env("DAGC_NUM_THREADS")


def cpu_count_from_env(variable: str) -> int:
    """The positive integer in the environment variable `variable`, else (unset or
    empty) the number of CPUs this process may run on (`os.sched_getaffinity`).

    Raises:
        ValueError: when the variable is set to anything but a positive integer.
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        return len(os.sched_getaffinity(0))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{variable} must be a positive integer, got {value!r}")
    return int(value)


def set_num_threads(count: int) -> None:
    """
    Run the parallel loops of all compiled code, loaded or to be loaded, on
    `count` threads (1: serially, without libgomp).

    Raises:
        ValueError: when `count` is not a positive integer.
    """
    global _num_threads
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"the number of threads must be a positive integer, got {count!r}")
    _num_threads = count
    _thread_count.value = count


def _sync_thread_count() -> None:
    """Set `dagc_num_threads` to `get_num_threads()`; called whenever code is
    loaded (the environment may have changed since the last load)."""
    _thread_count.value = get_num_threads()


class CpuModule:
    """
    LLVM IR text compiled in process with llvmlite.

    Args:
        llvm_ir: the module, as LLVM IR text (`translate_to_llvmir`), optimized
            here; or as a sequence of LLVM bitcode modules already optimized
            (`bitcode()` of other CpuModules, e.g. built in other processes), which
            are linked into one and not optimized again.
        triple: the target triple; default: the host's.
        cpu: the target CPU; default: the host CPU, or "generic" for another
            triple.
        features: the target features ("+avx2,-avx512f"); default: the host's, or
            none for another triple.
        opt_level: 0-3, the new pass manager's default pipeline level.

    Raises:
        RuntimeError: when the IR does not parse or verify (LLVM's message).
    """

    def __init__(
        self,
        llvm_ir: str | Sequence[bytes],
        *,
        triple: str | None = None,
        cpu: str | None = None,
        features: str | None = None,
        opt_level: int = 3,
    ):
        host = llvm.get_process_triple()
        self.triple = triple or host
        self.is_host = self.triple == host
        if self.is_host:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            cpu = llvm.get_host_cpu_name() if cpu is None else cpu
            features = (
                llvm.get_host_cpu_features().flatten() if features is None else features
            )
        else:
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
            cpu = "generic" if cpu is None else cpu
            features = "" if features is None else features
        self.cpu = cpu
        self.features = features
        self.opt_level = opt_level
        self.target_machine = llvm.Target.from_triple(
            self.triple
        ).create_target_machine(
            cpu=cpu, features=features, opt=opt_level, reloc="pic", codemodel="default"
        )
        if isinstance(llvm_ir, str):
            self._module = llvm.parse_assembly(llvm_ir)
        else:
            self._module = _link_bitcode(llvm_ir)
        self._module.triple = self.triple
        self._module.data_layout = str(self.target_machine.target_data)
        self._module.verify()
        if opt_level > 0 and isinstance(llvm_ir, str):
            options = llvm.create_pipeline_tuning_options(speed_level=opt_level)
            builder = llvm.create_pass_builder(self.target_machine, options)
            builder.getModulePassManager().run(self._module, builder)
        self._engine: llvm.ExecutionEngine | None = None

    @property
    def llvm_ir(self) -> str:
        """The optimized LLVM IR."""
        return str(self._module)

    def bitcode(self) -> bytes:
        """The optimized module as LLVM bitcode (for `CpuModule(parts)`)."""
        return self._module.as_bitcode()

    def emit_object(self) -> bytes:
        """The module as a relocatable (PIC) object file for the target."""
        return self.target_machine.emit_object(self._module)

    def emit_assembly(self) -> str:
        """The module as assembly for the target."""
        return self.target_machine.emit_assembly(self._module)

    def _execution_engine(self) -> llvm.ExecutionEngine:
        if not self.is_host:
            host = llvm.get_process_triple()
            raise RuntimeError(
                f"cannot run code for {self.triple} on this host ({host})"
            )
        if self._engine is None:
            _load_libm()
            _load_gomp()
            _sync_thread_count()
            # The JIT gets a target machine of its own: a code model that reaches
            # libm wherever it is mapped.
            jit_machine = llvm.Target.from_triple(self.triple).create_target_machine(
                cpu=self.cpu,
                features=self.features,
                opt=self.opt_level,
                codemodel="jitdefault",
                jit=True,
            )
            self._engine = llvm.create_mcjit_compiler(self._module.clone(), jit_machine)
            self._engine.finalize_object()
        return self._engine

    def get_function(
        self,
        name: str,
        arg_specs: Sequence[ArgSpec],
        result: ArgSpec | None = None,
    ) -> Callable[..., Any]:
        """
        The function `name`, callable from Python (see `CompiledFunction`).

        Args:
            name: the function's symbol.
            arg_specs: one `ArgSpec` per argument, e.g. from
                `specs_from_signature`.
            result: the scalar result, or None for a function returning nothing.

        Raises:
            KeyError: when the module has no function `name`.
            RuntimeError: when the module targets another machine.
        """
        engine = self._execution_engine()
        address = engine.get_function_address(name)
        if not address:
            raise KeyError(f"no function '{name}' in the module")
        return CompiledFunction(self, name, address, arg_specs, result)


def _link_bitcode(parts: Sequence[bytes]) -> llvm.ModuleRef:
    """The bitcode modules `parts` linked into one (LLVM's IR linker: a symbol one
    module declares resolves to another's definition; local symbols that clash are
    renamed).

    Raises:
        ValueError: when `parts` is empty.
        RuntimeError: when a module does not parse or two define one symbol.
    """
    if not parts:
        raise ValueError("no LLVM modules to link")
    linked = llvm.parse_bitcode(parts[0])
    for part in parts[1:]:
        linked.link_in(llvm.parse_bitcode(part))
    return linked


class _ObjectEngine:
    """Keeps an execution engine holding a loaded object file alive."""

    def __init__(self, engine: llvm.ExecutionEngine):
        self.engine = engine


def load_object(objects: Sequence[bytes], name: str, arg_specs: Sequence[ArgSpec],
                result: ArgSpec | None = None) -> tuple[CompiledFunction, _ObjectEngine]:
    """Link host object files (from `CpuModule.emit_object`; one, or several whose
    symbols refer to each other) into one JIT and return the function `name`:
    artifacts run without recompiling their LLVM IR.

    Raises:
        KeyError: when no object has a function `name`.
        RuntimeError: when an object cannot be loaded (e.g. another target).
    """
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    _load_libm()
    _load_gomp()
    _sync_thread_count()
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        codemodel="jitdefault", jit=True)
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    try:
        for code in objects:
            engine.add_object_file(llvm.ObjectFileRef.from_data(code))
        engine.finalize_object()
    except Exception as e:  # noqa: BLE001 - llvmlite raises plain RuntimeErrors
        raise RuntimeError(f"cannot load object code: {e}") from e
    address = engine.get_function_address(name)
    if not address:
        raise KeyError(f"no function '{name}' in the object code")
    holder = _ObjectEngine(engine)
    return CompiledFunction(holder, name, address, arg_specs, result), holder  # type: ignore[arg-type]
