"""Run dispatch tables of SPIR-V compute kernels through Vulkan.

Uses the PyPI ``vulkan`` package (cffi bindings to the system loader,
``libvulkan1``). A real GPU is preferred; without one, Mesa's lavapipe CPU
driver (``mesa-vulkan-drivers``) runs the same kernels, which is what tests use.

A dispatch table is made resident (``VulkanRuntime.prepare`` ->
``VulkanProgram``): one device-local storage buffer per ``BufferSpec``; the
constants and resident arguments (weights) uploaded once through a staging
buffer; one descriptor set per dispatch (set 0, binding i =
``KernelDispatch.bindings[i]``); one command buffer, recorded once, that copies
the streamed inputs in from a host-visible staging buffer, zeroes the
temporaries, runs the dispatches in order with a compute->compute memory
barrier between them and copies the results out to a host-visible readback
buffer. A call writes the inputs, submits, waits on a fence and reads the
results into numpy arrays. ``VulkanRuntime.run`` is a prepare, one call and a
release. Compute pipelines (shader module, descriptor set layout, pipeline
layout, pipeline) are cached per kernel binary for the runtime's lifetime.

Every SPIR-V binary is validated (``dagc.lowering.spirv_binary.validate``:
header checks, and ``spirv-val`` when installed) before it is handed to the
driver, and its version is checked against what the device accepts.

Binding notes (the ``vulkan`` package): structs passed by pointer are
referenced only weakly by their parents, so every struct is kept in a local
variable until the call that uses it returns; ``VK_WHOLE_SIZE`` is -1 there,
so buffer ranges are always explicit sizes.
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from dagc.lowering.gpu_to_spirv import DispatchTable, KernelDispatch
from dagc.lowering.spirv_binary import SPIRVValidationError, validate

API_VERSION = (1, 3, 0)
"""Vulkan API version requested for the instance."""

_DEVICE_PREFERENCE = {2: 0, 1: 1, 3: 2, 4: 3, 0: 4}
# VkPhysicalDeviceType: DISCRETE_GPU=2, INTEGRATED_GPU=1, VIRTUAL_GPU=3, CPU=4, OTHER=0.

_MAX_SPIRV_MINOR = {0: 0, 1: 3, 2: 5, 3: 6}
# Vulkan minor version -> newest SPIR-V 1.x minor version it consumes.


class VulkanError(RuntimeError):
    """A Vulkan call failed, or the device cannot run a dispatch table."""


@dataclass(frozen=True)
class Availability:
    """Whether a Vulkan device can be used; false with ``reason`` otherwise."""

    ok: bool
    reason: str
    device: str = ""

    def __bool__(self) -> bool:
        return self.ok


def _version(vk: Any, v: tuple[int, int, int]) -> int:
    return vk.VK_MAKE_VERSION(*v)


def _create_instance(vk: Any, validation_layers: bool) -> Any:
    app = vk.VkApplicationInfo(
        sType=vk.VK_STRUCTURE_TYPE_APPLICATION_INFO,
        pApplicationName="dagc",
        applicationVersion=1,
        pEngineName="dagc",
        engineVersion=1,
        apiVersion=_version(vk, API_VERSION),
    )
    layers: list[str] = []
    if validation_layers:
        available = [p.layerName for p in vk.vkEnumerateInstanceLayerProperties()]
        layers = [n for n in ("VK_LAYER_KHRONOS_validation",) if n in available]
    info = vk.VkInstanceCreateInfo(
        sType=vk.VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        pApplicationInfo=app,
        enabledLayerCount=len(layers),
        ppEnabledLayerNames=layers or None,
    )
    try:
        return vk.vkCreateInstance(info, None)
    except vk.VkError as e:
        # The binding raises VkResult classes with no message: name the result.
        raise VulkanError(
            f"vkCreateInstance failed: {type(e).__name__} (no Vulkan driver the "
            "loader can use: install mesa-vulkan-drivers for lavapipe, or point "
            "VK_DRIVER_FILES at a driver's ICD json)"
        ) from e


def _compute_queue_family(vk: Any, physical: Any) -> int | None:
    for i, family in enumerate(vk.vkGetPhysicalDeviceQueueFamilyProperties(physical)):
        if family.queueFlags & vk.VK_QUEUE_COMPUTE_BIT and family.queueCount > 0:
            return i
    return None


def _pick_device(vk: Any, instance: Any, wanted: str | None) -> tuple[Any, int, Any]:
    """(physical device, compute queue family, properties) by preference.

    ``wanted``: a substring of the device name (also DAGC_VULKAN_DEVICE).
    Raises VulkanError when no device with a compute queue matches.
    """
    candidates = []
    for physical in vk.vkEnumeratePhysicalDevices(instance):
        props = vk.vkGetPhysicalDeviceProperties(physical)
        family = _compute_queue_family(vk, physical)
        name = _device_name(vk, props)
        if family is None or (wanted and wanted.lower() not in name.lower()):
            continue
        candidates.append(
            (_DEVICE_PREFERENCE.get(props.deviceType, 5), name, physical, family, props)
        )
    if not candidates:
        raise VulkanError(
            "no Vulkan device with a compute queue"
            + (
                f" matches '{wanted}'"
                if wanted
                else " (install mesa-vulkan-drivers for lavapipe)"
            )
        )
    candidates.sort(key=lambda c: c[0])
    _, _, physical, family, props = candidates[0]
    return physical, family, props


class _Pipeline:
    """A cached compute pipeline for one kernel binary."""

    def __init__(self, rt: VulkanRuntime, kernel: KernelDispatch):
        vk, device = rt.vk, rt.device
        code = kernel.spirv
        shader_info = vk.VkShaderModuleCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            codeSize=len(code),
            pCode=code,
        )
        self.shader = vk.vkCreateShaderModule(device, shader_info, None)
        bindings = [
            vk.VkDescriptorSetLayoutBinding(
                binding=i,
                descriptorType=vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                descriptorCount=1,
                stageFlags=vk.VK_SHADER_STAGE_COMPUTE_BIT,
            )
            for i in range(len(kernel.bindings))
        ]
        layout_info = vk.VkDescriptorSetLayoutCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            bindingCount=len(bindings),
            pBindings=bindings or None,
        )
        self.set_layout = vk.vkCreateDescriptorSetLayout(device, layout_info, None)
        pipeline_layout_info = vk.VkPipelineLayoutCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
            setLayoutCount=1,
            pSetLayouts=[self.set_layout],
        )
        self.layout = vk.vkCreatePipelineLayout(device, pipeline_layout_info, None)
        stage = vk.VkPipelineShaderStageCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            stage=vk.VK_SHADER_STAGE_COMPUTE_BIT,
            module=self.shader,
            pName=kernel.entry_point,
        )
        pipeline_info = vk.VkComputePipelineCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            stage=stage,
            layout=self.layout,
        )
        self.pipeline = vk.vkCreateComputePipelines(
            device, vk.VK_NULL_HANDLE, 1, [pipeline_info], None
        )[0]

    def destroy(self, rt: VulkanRuntime) -> None:
        vk, device = rt.vk, rt.device
        vk.vkDestroyPipeline(device, self.pipeline, None)
        vk.vkDestroyPipelineLayout(device, self.layout, None)
        vk.vkDestroyDescriptorSetLayout(device, self.set_layout, None)
        vk.vkDestroyShaderModule(device, self.shader, None)


class _Buffer:
    """One storage buffer with its own memory.

    ``host``: host-visible, host-coherent memory, mapped for the buffer's
    lifetime (staging); else device-local memory (where kernels read and write).
    Usable as a storage buffer and as a transfer source and destination.
    """

    def __init__(self, rt: VulkanRuntime, size: int, host: bool):
        vk, device = rt.vk, rt.device
        self.size = max(size, 4)
        info = vk.VkBufferCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
            size=self.size,
            usage=vk.VK_BUFFER_USAGE_STORAGE_BUFFER_BIT
            | vk.VK_BUFFER_USAGE_TRANSFER_SRC_BIT
            | vk.VK_BUFFER_USAGE_TRANSFER_DST_BIT,
            sharingMode=vk.VK_SHARING_MODE_EXCLUSIVE,
        )
        self.buffer = vk.vkCreateBuffer(device, info, None)
        self.memory = self.mapped = None
        try:
            req = vk.vkGetBufferMemoryRequirements(device, self.buffer)
            alloc = vk.VkMemoryAllocateInfo(
                sType=vk.VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                allocationSize=req.size,
                memoryTypeIndex=rt.memory_type(req.memoryTypeBits, host),
            )
            self.memory = vk.vkAllocateMemory(device, alloc, None)
            vk.vkBindBufferMemory(device, self.buffer, self.memory, 0)
            if host:
                self.mapped = vk.vkMapMemory(device, self.memory, 0, self.size, 0)
        except BaseException:
            self.destroy(rt)
            raise

    def write(self, offset: int, data: np.ndarray) -> None:
        """Copy ``data``'s bytes to ``offset`` (a mapped buffer only)."""
        raw = data.tobytes()
        self.mapped[offset : offset + len(raw)] = raw

    def read(self, offset: int, dtype: str, shape: Sequence[int]) -> np.ndarray:
        """A new array of ``shape`` from the bytes at ``offset`` (mapped only)."""
        count = int(np.prod(shape)) if len(shape) else 1
        return (
            np.frombuffer(self.mapped, dtype=dtype, count=count, offset=offset)
            .reshape(shape)
            .copy()
        )

    def destroy(self, rt: VulkanRuntime) -> None:
        vk, device = rt.vk, rt.device
        if self.mapped is not None:
            vk.vkUnmapMemory(device, self.memory)
        vk.vkDestroyBuffer(device, self.buffer, None)
        if self.memory is not None:
            vk.vkFreeMemory(device, self.memory, None)


def _as_buffer_array(table: DispatchTable, index: int, x: np.ndarray) -> np.ndarray:
    """``x`` as the dtype and C order of ``table.buffers[index]``.

    Raises ValueError when the shape differs (0-d arrays stay 0-d).
    """
    spec = table.buffers[index]
    arr = np.asarray(x, dtype=spec.dtype, order="C")
    if arr.shape != spec.shape:
        name = f"input {spec.argument}" if spec.argument is not None else spec.constant
        raise ValueError(f"{name}: expected shape {spec.shape}, got {arr.shape}")
    return arr


def _packed(sizes: Sequence[int], align: int = 16) -> tuple[list[int], int]:
    """Offsets of ``sizes`` bytes packed one after another at ``align``; total."""
    offsets, total = [], 0
    for size in sizes:
        offsets.append(total)
        total += -(-size // align) * align
    return offsets, total


class VulkanProgram:
    """A dispatch table made resident on one device, run many times.

    Every ``BufferSpec`` gets a device-local buffer. Constant buffers and the
    ``resident`` arguments (weights; ``{argument index: array}``) are uploaded
    once, here, through a staging buffer. One command buffer is recorded once:
    copy the streamed arguments from a host-visible staging buffer, zero the
    temporaries, the dispatches with a compute->compute barrier between each,
    then copy the results to a host-visible readback buffer. A call writes the
    streamed arguments, submits that command buffer and waits on a fence.

    On a discrete GPU the kernels so read and write the GPU's own memory rather
    than host memory over PCIe, and a call moves only its inputs and outputs.
    A kernel must not write a resident argument (it would persist into the next
    call); dagc's weights are read-only.

    Raises ValueError for a wrong resident argument, VulkanError (and
    SPIRVValidationError) as :meth:`VulkanRuntime.run` does. Calls from several
    threads take turns (one staging buffer, one command buffer); :meth:`release`
    frees its device objects.
    """

    def __init__(
        self,
        rt: VulkanRuntime,
        table: DispatchTable,
        resident: dict[int, np.ndarray] | None = None,
        timestamps: bool = False,
    ):
        vk, device = rt.vk, rt.device
        self.rt, self.table = rt, table
        self._lock = threading.Lock()
        resident = dict(resident or {})
        args = [i for i, b in enumerate(table.buffers) if b.argument is not None]
        args.sort(key=lambda i: table.buffers[i].argument)  # type: ignore[arg-type, return-value]
        by_argument = {table.buffers[i].argument: i for i in args}
        unknown = set(resident) - set(by_argument)
        if unknown:
            raise ValueError(f"resident arguments {sorted(unknown)} are not arguments")
        upload = {by_argument[a]: _as_buffer_array(table, by_argument[a], x)
                  for a, x in resident.items()}
        for i, spec in enumerate(table.buffers):
            if spec.constant is not None:
                upload[i] = _as_buffer_array(table, i, table.constants[spec.constant])
        self.streamed = [i for i in args if table.buffers[i].argument not in resident]
        pipelines = [rt._pipeline(k) for k in table.kernels]

        self.buffers: list[_Buffer] = []
        self.pool = self.command = self.fence = self.queries = None
        self.staging: _Buffer | None = None
        self.readback: _Buffer | None = None
        try:
            for spec in table.buffers:
                self.buffers.append(_Buffer(rt, spec.nbytes, host=False))
            self._upload(upload)
            sizes = [table.buffers[i].nbytes for i in self.streamed]
            self.in_offsets, total = _packed(sizes)
            self.staging = _Buffer(rt, total, host=True)
            sizes = [table.buffers[i].nbytes for i in table.results]
            self.out_offsets, total = _packed(sizes)
            self.readback = _Buffer(rt, total, host=True)
            sets = self._descriptor_sets(pipelines)
            if timestamps:
                self.queries = vk.vkCreateQueryPool(device, vk.VkQueryPoolCreateInfo(
                    sType=vk.VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                    queryType=vk.VK_QUERY_TYPE_TIMESTAMP,
                    queryCount=len(table.kernels) + 1,
                ), None)
            self._record(pipelines, sets)
            self.fence = vk.vkCreateFence(
                device, vk.VkFenceCreateInfo(sType=vk.VK_STRUCTURE_TYPE_FENCE_CREATE_INFO),
                None,
            )
        except BaseException:
            self._release()
            raise
        rt._programs.add(self)

    # ------------------------------------------------------------ building

    def _upload(self, arrays: dict[int, np.ndarray]) -> None:
        """Copy ``{buffer index: array}`` into the device buffers, and wait."""
        if not arrays:
            return
        vk = self.rt.vk
        order = sorted(arrays)
        offsets, total = _packed([arrays[i].nbytes for i in order])
        staging = _Buffer(self.rt, total, host=True)
        try:
            for i, offset in zip(order, offsets):
                staging.write(offset, arrays[i])

            def record(command: Any) -> None:
                for i, offset in zip(order, offsets):
                    _copy(vk, command, staging, self.buffers[i], self.buffers[i].size,
                          src_offset=offset)

            self.rt._submit_once(record)
        finally:
            staging.destroy(self.rt)

    def _descriptor_sets(self, pipelines: list[_Pipeline]) -> list[Any]:
        vk, device, kernels = self.rt.vk, self.rt.device, self.table.kernels
        if not kernels:
            return []
        pool_sizes = [
            vk.VkDescriptorPoolSize(
                type=vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                descriptorCount=max(sum(len(k.bindings) for k in kernels), 1),
            )
        ]
        pool_info = vk.VkDescriptorPoolCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            maxSets=len(kernels),
            poolSizeCount=1,
            pPoolSizes=pool_sizes,
        )
        self.pool = vk.vkCreateDescriptorPool(device, pool_info, None)
        sets = []
        for kernel, pipeline in zip(kernels, pipelines):
            alloc = vk.VkDescriptorSetAllocateInfo(
                sType=vk.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                descriptorPool=self.pool,
                descriptorSetCount=1,
                pSetLayouts=[pipeline.set_layout],
            )
            dset = vk.vkAllocateDescriptorSets(device, alloc)[0]
            sets.append(dset)
            infos = [
                vk.VkDescriptorBufferInfo(
                    buffer=self.buffers[b].buffer, offset=0, range=self.buffers[b].size
                )
                for b in kernel.bindings
            ]
            writes = [
                vk.VkWriteDescriptorSet(
                    sType=vk.VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                    dstSet=dset,
                    dstBinding=slot,
                    dstArrayElement=0,
                    descriptorCount=1,
                    descriptorType=vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                    pBufferInfo=[info],
                )
                for slot, info in enumerate(infos)
            ]
            if writes:
                vk.vkUpdateDescriptorSets(device, len(writes), writes, 0, None)
        return sets

    def _record(self, pipelines: list[_Pipeline], sets: list[Any]) -> None:
        vk, table = self.rt.vk, self.table
        self.command = self.rt._command_buffer()
        command = self.command
        vk.vkBeginCommandBuffer(
            command,
            vk.VkCommandBufferBeginInfo(sType=vk.VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO),
        )
        for i, offset in zip(self.streamed, self.in_offsets):
            _copy(vk, command, self.staging, self.buffers[i], self.buffers[i].size,
                  src_offset=offset)
        for i, spec in enumerate(table.buffers):
            if spec.argument is None and spec.constant is None:  # a temporary
                vk.vkCmdFillBuffer(command, self.buffers[i].buffer, 0, self.buffers[i].size, 0)
        write = vk.VK_ACCESS_SHADER_WRITE_BIT
        read_write = vk.VK_ACCESS_SHADER_READ_BIT | write
        compute = vk.VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT
        transfer = vk.VK_PIPELINE_STAGE_TRANSFER_BIT
        _barrier(vk, command, transfer, compute, vk.VK_ACCESS_TRANSFER_WRITE_BIT, read_write)
        if self.queries is not None:
            vk.vkCmdResetQueryPool(command, self.queries, 0, len(table.kernels) + 1)
            vk.vkCmdWriteTimestamp(command, compute, self.queries, 0)
        for n, (kernel, pipeline, dset) in enumerate(zip(table.kernels, pipelines, sets)):
            if n:
                _barrier(vk, command, compute, compute, write, read_write)
            vk.vkCmdBindPipeline(command, vk.VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline)
            vk.vkCmdBindDescriptorSets(
                command, vk.VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout,
                0, 1, [dset], 0, None,
            )
            vk.vkCmdDispatch(command, *kernel.workgroups)
            if self.queries is not None:
                vk.vkCmdWriteTimestamp(command, compute, self.queries, n + 1)
        _barrier(vk, command, compute, transfer, write, vk.VK_ACCESS_TRANSFER_READ_BIT)
        for i, offset in zip(table.results, self.out_offsets):
            _copy(vk, command, self.buffers[i], self.readback, self.buffers[i].size,
                  dst_offset=offset)
        _barrier(vk, command, transfer, vk.VK_PIPELINE_STAGE_HOST_BIT,
                 vk.VK_ACCESS_TRANSFER_WRITE_BIT, vk.VK_ACCESS_HOST_READ_BIT)
        vk.vkEndCommandBuffer(command)

    # ----------------------------------------------------------------- call

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run once. ``inputs``: one array per streamed (non-resident) argument,
        in argument order. Returns the result buffers as new numpy arrays.

        Raises ValueError on a wrong count or shape, VulkanError when the
        dispatches do not finish within 60 s or after :meth:`release`.
        """
        vk, device, table = self.rt.vk, self.rt.device, self.table
        if len(inputs) != len(self.streamed):
            raise ValueError(f"expected {len(self.streamed)} inputs, got {len(inputs)}")
        arrays = [_as_buffer_array(table, i, x) for i, x in zip(self.streamed, inputs)]
        with self._lock:
            if self.command is None:
                raise VulkanError("the program was released")
            for arr, offset in zip(arrays, self.in_offsets):
                self.staging.write(offset, arr)
            vk.vkResetFences(device, 1, [self.fence])
            self.rt._submit(self.command, self.fence)
            return [
                self.readback.read(offset, table.buffers[i].dtype, table.buffers[i].shape)
                for i, offset in zip(table.results, self.out_offsets)
            ]

    def kernel_seconds(self) -> list[float]:
        """Seconds each dispatch of the last call took on the device, in order
        (``table.kernels``), from timestamps written after each dispatch: a
        dispatch's time includes the barrier before it.

        Raises VulkanError unless the program was prepared with
        ``timestamps=True`` and has been called.
        """
        vk, n = self.rt.vk, len(self.table.kernels)
        if self.queries is None:
            raise VulkanError("the program was not prepared with timestamps=True")
        data = vk.ffi.new("uint64_t[]", n + 1)
        try:
            vk.vkGetQueryPoolResults(
                self.rt.device, self.queries, 0, n + 1, 8 * (n + 1), data, 8,
                vk.VK_QUERY_RESULT_64_BIT,
            )
        except vk.VkNotReady as e:
            raise VulkanError("no timestamps yet: call the program first") from e
        ticks = np.array(list(data), dtype=np.float64)
        return [float(t) for t in np.diff(ticks) * self.rt.timestamp_period * 1e-9]

    def release(self) -> None:
        """Free the buffers, descriptor sets, command buffer and fence (idempotent;
        waits for a call in progress)."""
        with self._lock:
            self._release()

    def _release(self) -> None:
        rt = self.rt
        if rt.device is None:
            return
        vk, device = rt.vk, rt.device
        if self.fence is not None:
            vk.vkDestroyFence(device, self.fence, None)
        if self.queries is not None:
            vk.vkDestroyQueryPool(device, self.queries, None)
        if self.command is not None:
            vk.vkFreeCommandBuffers(device, rt.command_pool, 1, [self.command])
        if self.pool is not None:
            vk.vkDestroyDescriptorPool(device, self.pool, None)
        for b in [*self.buffers, self.staging, self.readback]:
            if b is not None:
                b.destroy(rt)
        self.buffers, self.staging, self.readback = [], None, None
        self.pool = self.command = self.fence = self.queries = None
        rt._programs.discard(self)


def _copy(vk: Any, command: Any, src: _Buffer, dst: _Buffer, size: int,
          src_offset: int = 0, dst_offset: int = 0) -> None:
    """Record a copy of ``size`` bytes from ``src`` to ``dst`` at the byte offsets."""
    region = vk.VkBufferCopy(srcOffset=src_offset, dstOffset=dst_offset, size=size)
    vk.vkCmdCopyBuffer(command, src.buffer, dst.buffer, 1, [region])


def _barrier(vk: Any, command: Any, src_stage: int, dst_stage: int,
             src_access: int, dst_access: int) -> None:
    """One global memory barrier (``src_access`` made visible to ``dst_access``)."""
    barrier = vk.VkMemoryBarrier(
        sType=vk.VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        srcAccessMask=src_access,
        dstAccessMask=dst_access,
    )
    vk.vkCmdPipelineBarrier(
        command, src_stage, dst_stage, 0, 1, [barrier], 0, None, 0, None
    )


class VulkanRuntime:
    """Runs ``DispatchTable``s on one Vulkan device.

    ``device``: substring of the device name to use (default: environment
    variable DAGC_VULKAN_DEVICE, else the best device: discrete GPU, integrated,
    virtual, then CPU such as lavapipe). ``validation_layers``: enable
    VK_LAYER_KHRONOS_validation when installed (also DAGC_VULKAN_VALIDATION=1).
    Raises VulkanError if no device can be opened.
    """

    _probe: Availability | None = None

    @classmethod
    def available(cls) -> Availability:
        """Probe (once) whether a Vulkan device with a compute queue exists.

        Returns an ``Availability`` that is falsy with a reason (missing
        ``vulkan`` package, missing loader, no device) when not.
        """
        if cls._probe is None:
            try:
                import vulkan as vk
            except ImportError:
                cls._probe = Availability(
                    False,
                    "the 'vulkan' Python package is not installed (pip install vulkan)",
                )
                return cls._probe
            except OSError as e:
                cls._probe = Availability(
                    False, f"no Vulkan loader (apt-get install libvulkan1): {e}"
                )
                return cls._probe
            instance = None
            try:
                instance = _create_instance(vk, False)
                _, _, props = _pick_device(
                    vk, instance, os.environ.get("DAGC_VULKAN_DEVICE")
                )
                cls._probe = Availability(True, "", _device_name(vk, props))
            except Exception as e:  # noqa: BLE001 - any driver failure means: not available
                cls._probe = Availability(False, f"no usable Vulkan device: {e}")
            finally:
                if instance is not None:
                    vk.vkDestroyInstance(instance, None)
        return cls._probe

    def __init__(self, device: str | None = None, validation_layers: bool = False):
        try:
            import vulkan as vk
        except (ImportError, OSError) as e:
            raise VulkanError(f"Vulkan is not available: {e}") from e
        self.vk = vk
        validation_layers = (
            validation_layers or os.environ.get("DAGC_VULKAN_VALIDATION") == "1"
        )
        self.instance = _create_instance(vk, validation_layers)
        self.physical, self.family, props = _pick_device(
            vk, self.instance, device or os.environ.get("DAGC_VULKAN_DEVICE")
        )
        self.device_name = _device_name(vk, props)
        limits = props.limits
        self.max_workgroups = tuple(
            limits.maxComputeWorkGroupCount[i] for i in range(3)
        )
        self.max_local_size = tuple(limits.maxComputeWorkGroupSize[i] for i in range(3))
        self.max_invocations = limits.maxComputeWorkGroupInvocations
        self.timestamp_period = float(limits.timestampPeriod)  # ns per tick
        api = props.apiVersion
        self.max_spirv = (1, _MAX_SPIRV_MINOR.get(min((api >> 12) & 0x3FF, 3), 0))
        priorities = [1.0]
        queue_info = vk.VkDeviceQueueCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
            queueFamilyIndex=self.family,
            queueCount=1,
            pQueuePriorities=priorities,
        )
        device_info = vk.VkDeviceCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
            queueCreateInfoCount=1,
            pQueueCreateInfos=[queue_info],
        )
        self.device = vk.vkCreateDevice(self.physical, device_info, None)
        self.queue = vk.vkGetDeviceQueue(self.device, self.family, 0)
        pool_info = vk.VkCommandPoolCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
            queueFamilyIndex=self.family,
            flags=vk.VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        )
        self.command_pool = vk.vkCreateCommandPool(self.device, pool_info, None)
        self.memory_properties = vk.vkGetPhysicalDeviceMemoryProperties(self.physical)
        self._pipelines: dict[str, _Pipeline] = {}
        self._programs: weakref.WeakSet[VulkanProgram] = weakref.WeakSet()

    # --------------------------------------------------------------- helpers

    def memory_type(self, type_bits: int, host: bool) -> int:
        """Index of a memory type allowed by ``type_bits`` for a buffer.

        ``host``: HOST_VISIBLE | HOST_COHERENT (HOST_CACHED preferred, for
        reading back); else DEVICE_LOCAL (on lavapipe that memory is host memory
        too). Raises VulkanError when the device has no such type.
        """
        vk, props = self.vk, self.memory_properties
        if host:
            wanted = vk.VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | vk.VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
            preferred = wanted | vk.VK_MEMORY_PROPERTY_HOST_CACHED_BIT
        else:
            wanted = preferred = vk.VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT
        allowed = [
            (i, props.memoryTypes[i].propertyFlags)
            for i in range(props.memoryTypeCount)
            if type_bits & (1 << i)
        ]
        for flags in (preferred, wanted):
            for i, have in allowed:
                if have & flags == flags:
                    return i
        raise VulkanError(
            f"the device has no {'host-visible coherent' if host else 'device-local'} "
            "memory for storage buffers"
        )

    def _command_buffer(self) -> Any:
        vk = self.vk
        info = vk.VkCommandBufferAllocateInfo(
            sType=vk.VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
            commandPool=self.command_pool,
            level=vk.VK_COMMAND_BUFFER_LEVEL_PRIMARY,
            commandBufferCount=1,
        )
        return vk.vkAllocateCommandBuffers(self.device, info)[0]

    def _submit(self, command: Any, fence: Any) -> None:
        """Submit ``command`` and wait for ``fence`` (60 s at most)."""
        vk = self.vk
        submit = vk.VkSubmitInfo(
            sType=vk.VK_STRUCTURE_TYPE_SUBMIT_INFO,
            commandBufferCount=1,
            pCommandBuffers=[command],
        )
        vk.vkQueueSubmit(self.queue, 1, [submit], fence)
        try:
            vk.vkWaitForFences(self.device, 1, [fence], vk.VK_TRUE, 60_000_000_000)
        except vk.VkTimeout as e:
            raise VulkanError("the dispatches did not finish within 60 s") from e

    def _submit_once(self, record: Any) -> None:
        """Record commands with ``record(command_buffer)``, submit, wait, free."""
        vk, device = self.vk, self.device
        command = self._command_buffer()
        fence = None
        try:
            begin = vk.VkCommandBufferBeginInfo(
                sType=vk.VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                flags=vk.VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
            )
            vk.vkBeginCommandBuffer(command, begin)
            record(command)
            vk.vkEndCommandBuffer(command)
            fence = vk.vkCreateFence(
                device, vk.VkFenceCreateInfo(sType=vk.VK_STRUCTURE_TYPE_FENCE_CREATE_INFO),
                None,
            )
            self._submit(command, fence)
        finally:
            if fence is not None:
                vk.vkDestroyFence(device, fence, None)
            vk.vkFreeCommandBuffers(device, self.command_pool, 1, [command])

    def _pipeline(self, kernel: KernelDispatch) -> _Pipeline:
        key = hashlib.sha256(kernel.spirv + kernel.entry_point.encode()).hexdigest()
        if key not in self._pipelines:
            validate(kernel.spirv)
            version = (kernel.spirv[6], kernel.spirv[5])  # header word 1: 0x00MMmm00
            if version > self.max_spirv:
                raise SPIRVValidationError(
                    f"kernel {kernel.name} is SPIR-V {version[0]}.{version[1]}; "
                    f"{self.device_name} accepts up to {self.max_spirv[0]}.{self.max_spirv[1]}"
                )
            self._check_limits(kernel)
            self._pipelines[key] = _Pipeline(self, kernel)
        return self._pipelines[key]

    def _check_limits(self, kernel: KernelDispatch) -> None:
        for axis in range(3):
            if kernel.workgroups[axis] > self.max_workgroups[axis]:
                raise VulkanError(
                    f"kernel {kernel.name}: too many workgroups along axis {axis}"
                )
            if kernel.local_size[axis] > self.max_local_size[axis]:
                raise VulkanError(
                    f"kernel {kernel.name}: workgroup too large along axis {axis}"
                )
        local = kernel.local_size[0] * kernel.local_size[1] * kernel.local_size[2]
        if local > self.max_invocations:
            raise VulkanError(
                f"kernel {kernel.name}: {local} invocations per workgroup exceed the device limit"
            )

    # ------------------------------------------------------------------ run

    def prepare(
        self,
        table: DispatchTable,
        resident: dict[int, np.ndarray] | None = None,
        timestamps: bool = False,
    ) -> VulkanProgram:
        """``table`` made resident on this device (see :class:`VulkanProgram`):
        its constants and the ``resident`` arguments (``{argument index:
        array}``, e.g. weights) uploaded once, its commands recorded once.
        ``timestamps``: time each dispatch (``VulkanProgram.kernel_seconds``).

        Raises ValueError, SPIRVValidationError or VulkanError as :meth:`run`.
        """
        return VulkanProgram(self, table, resident, timestamps)

    def run(
        self, table: DispatchTable, inputs: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Run ``table`` once with ``inputs`` (one array per host function argument).

        Inputs are converted to the buffer dtype (float32/int32) and must have
        the buffer's shape. Returns the result buffers (``table.results``) as
        new numpy arrays. Raises ValueError on wrong inputs, SPIRVValidationError
        if a kernel binary is refused before reaching the driver, VulkanError
        on device limits or a dispatch that does not finish in 60 s. To run a
        table many times, :meth:`prepare` it once instead.
        """
        program = self.prepare(table)
        try:
            return program(inputs)
        finally:
            program.release()

    def close(self) -> None:
        """Destroy cached pipelines, the device and the instance."""
        if getattr(self, "device", None) is None:
            return
        vk = self.vk
        vk.vkDeviceWaitIdle(self.device)
        for program in list(self._programs):
            program.release()
        for p in self._pipelines.values():
            p.destroy(self)
        self._pipelines.clear()
        vk.vkDestroyCommandPool(self.device, self.command_pool, None)
        vk.vkDestroyDevice(self.device, None)
        vk.vkDestroyInstance(self.instance, None)
        self.device = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _device_name(vk: Any, props: Any) -> str:
    name = props.deviceName
    return name if isinstance(name, str) else vk.ffi.string(name).decode()
