"""Run dispatch tables of SPIR-V compute kernels through Vulkan.

Uses the PyPI ``vulkan`` package (cffi bindings to the system loader,
``libvulkan1``). A real GPU is preferred; without one, Mesa's lavapipe CPU
driver (``mesa-vulkan-drivers``) runs the same kernels, which is what tests use.

One ``run`` call: host-visible, host-coherent storage buffers (one per
``BufferSpec``; inputs copied in, temporaries zeroed), one descriptor set per
dispatch (set 0, binding i = ``KernelDispatch.bindings[i]``), the dispatches
recorded in order into one command buffer with a compute->compute memory
barrier between dispatches and a compute->host barrier at the end, one queue
submission waited on with a fence, and the result buffers read back into
numpy arrays. Compute pipelines (shader module, descriptor set layout,
pipeline layout, pipeline) are cached per kernel binary for the runtime's
lifetime.

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
    return vk.vkCreateInstance(info, None)


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
    """A host-visible, host-coherent storage buffer, mapped for its lifetime."""

    def __init__(self, rt: VulkanRuntime, size: int):
        vk, device = rt.vk, rt.device
        self.size = max(size, 4)
        info = vk.VkBufferCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
            size=self.size,
            usage=vk.VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
            sharingMode=vk.VK_SHARING_MODE_EXCLUSIVE,
        )
        self.buffer = vk.vkCreateBuffer(device, info, None)
        req = vk.vkGetBufferMemoryRequirements(device, self.buffer)
        alloc = vk.VkMemoryAllocateInfo(
            sType=vk.VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
            allocationSize=req.size,
            memoryTypeIndex=rt.host_memory_type(req.memoryTypeBits),
        )
        self.memory = vk.vkAllocateMemory(device, alloc, None)
        vk.vkBindBufferMemory(device, self.buffer, self.memory, 0)
        self.mapped = vk.vkMapMemory(device, self.memory, 0, self.size, 0)

    def write(self, data: np.ndarray | None) -> None:
        raw = data.tobytes() if data is not None else b""
        self.mapped[: len(raw)] = raw
        if len(raw) < self.size:
            self.mapped[len(raw) : self.size] = bytes(self.size - len(raw))

    def read(self, dtype: str, shape: Sequence[int]) -> np.ndarray:
        count = int(np.prod(shape)) if len(shape) else 1
        return (
            np.frombuffer(self.mapped, dtype=dtype, count=count).reshape(shape).copy()
        )

    def destroy(self, rt: VulkanRuntime) -> None:
        vk, device = rt.vk, rt.device
        vk.vkUnmapMemory(device, self.memory)
        vk.vkDestroyBuffer(device, self.buffer, None)
        vk.vkFreeMemory(device, self.memory, None)


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

    # --------------------------------------------------------------- helpers

    def host_memory_type(self, type_bits: int) -> int:
        """Index of a HOST_VISIBLE | HOST_COHERENT memory type allowed by ``type_bits``."""
        vk = self.vk
        wanted = (
            vk.VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
            | vk.VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
        )
        props = self.memory_properties
        for i in range(props.memoryTypeCount):
            if (
                type_bits & (1 << i)
                and (props.memoryTypes[i].propertyFlags & wanted) == wanted
            ):
                return i
        raise VulkanError(
            "the device has no host-visible coherent memory for storage buffers"
        )

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

    def run(
        self, table: DispatchTable, inputs: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Run ``table`` with ``inputs`` (one array per host function argument).

        Inputs are converted to the buffer dtype (float32/int32) and must have
        the buffer's shape. Returns the result buffers (``table.results``) as
        new numpy arrays. Raises ValueError on wrong inputs, SPIRVValidationError
        if a kernel binary is refused before reaching the driver, VulkanError
        on device limits or a dispatch that does not finish in 60 s.
        """
        vk, device = self.vk, self.device
        args = [i for i, b in enumerate(table.buffers) if b.argument is not None]
        args.sort(key=lambda i: table.buffers[i].argument)  # type: ignore[arg-type, return-value]
        if len(inputs) != len(args):
            raise ValueError(f"expected {len(args)} inputs, got {len(inputs)}")
        data: dict[int, np.ndarray] = {}
        for i, x in zip(args, inputs):
            spec = table.buffers[i]
            arr = np.asarray(x, dtype=spec.dtype, order="C")  # keeps 0-d arrays 0-d
            if arr.shape != spec.shape:
                raise ValueError(
                    f"input {spec.argument}: expected shape {spec.shape}, got {arr.shape}"
                )
            data[i] = arr
        pipelines = [self._pipeline(k) for k in table.kernels]

        buffers: list[_Buffer] = []
        pool = command = fence = None
        try:
            for i, spec in enumerate(table.buffers):
                buffers.append(_Buffer(self, spec.nbytes))
                if spec.constant is not None:
                    data[i] = np.asarray(
                        table.constants[spec.constant], dtype=spec.dtype, order="C"
                    )
                buffers[-1].write(data.get(i))
            n_descriptors = sum(len(k.bindings) for k in table.kernels)
            if table.kernels:
                pool_sizes = [
                    vk.VkDescriptorPoolSize(
                        type=vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                        descriptorCount=max(n_descriptors, 1),
                    )
                ]
                pool_info = vk.VkDescriptorPoolCreateInfo(
                    sType=vk.VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                    maxSets=len(table.kernels),
                    poolSizeCount=1,
                    pPoolSizes=pool_sizes,
                )
                pool = vk.vkCreateDescriptorPool(device, pool_info, None)
            sets = []
            for kernel, pipeline in zip(table.kernels, pipelines):
                alloc = vk.VkDescriptorSetAllocateInfo(
                    sType=vk.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                    descriptorPool=pool,
                    descriptorSetCount=1,
                    pSetLayouts=[pipeline.set_layout],
                )
                dset = vk.vkAllocateDescriptorSets(device, alloc)[0]
                sets.append(dset)
                infos = [
                    vk.VkDescriptorBufferInfo(
                        buffer=buffers[b].buffer, offset=0, range=buffers[b].size
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

            cmd_info = vk.VkCommandBufferAllocateInfo(
                sType=vk.VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                commandPool=self.command_pool,
                level=vk.VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                commandBufferCount=1,
            )
            command = vk.vkAllocateCommandBuffers(device, cmd_info)[0]
            begin = vk.VkCommandBufferBeginInfo(
                sType=vk.VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                flags=vk.VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
            )
            vk.vkBeginCommandBuffer(command, begin)
            between = vk.VkMemoryBarrier(
                sType=vk.VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                srcAccessMask=vk.VK_ACCESS_SHADER_WRITE_BIT,
                dstAccessMask=vk.VK_ACCESS_SHADER_READ_BIT
                | vk.VK_ACCESS_SHADER_WRITE_BIT,
            )
            to_host = vk.VkMemoryBarrier(
                sType=vk.VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                srcAccessMask=vk.VK_ACCESS_SHADER_WRITE_BIT,
                dstAccessMask=vk.VK_ACCESS_HOST_READ_BIT,
            )
            for n, (kernel, pipeline, dset) in enumerate(
                zip(table.kernels, pipelines, sets)
            ):
                if n:
                    vk.vkCmdPipelineBarrier(
                        command,
                        vk.VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                        vk.VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                        0,
                        1,
                        [between],
                        0,
                        None,
                        0,
                        None,
                    )
                vk.vkCmdBindPipeline(
                    command, vk.VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline
                )
                vk.vkCmdBindDescriptorSets(
                    command,
                    vk.VK_PIPELINE_BIND_POINT_COMPUTE,
                    pipeline.layout,
                    0,
                    1,
                    [dset],
                    0,
                    None,
                )
                vk.vkCmdDispatch(command, *kernel.workgroups)
            vk.vkCmdPipelineBarrier(
                command,
                vk.VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                vk.VK_PIPELINE_STAGE_HOST_BIT,
                0,
                1,
                [to_host],
                0,
                None,
                0,
                None,
            )
            vk.vkEndCommandBuffer(command)

            fence_info = vk.VkFenceCreateInfo(
                sType=vk.VK_STRUCTURE_TYPE_FENCE_CREATE_INFO
            )
            fence = vk.vkCreateFence(device, fence_info, None)
            submit = vk.VkSubmitInfo(
                sType=vk.VK_STRUCTURE_TYPE_SUBMIT_INFO,
                commandBufferCount=1,
                pCommandBuffers=[command],
            )
            vk.vkQueueSubmit(self.queue, 1, [submit], fence)
            try:
                vk.vkWaitForFences(device, 1, [fence], vk.VK_TRUE, 60_000_000_000)
            except vk.VkTimeout as e:
                raise VulkanError("the dispatches did not finish within 60 s") from e
            return [
                buffers[i].read(table.buffers[i].dtype, table.buffers[i].shape)
                for i in table.results
            ]
        finally:
            if fence is not None:
                vk.vkDestroyFence(device, fence, None)
            if command is not None:
                vk.vkFreeCommandBuffers(device, self.command_pool, 1, [command])
            if pool is not None:
                vk.vkDestroyDescriptorPool(device, pool, None)
            for b in buffers:
                b.destroy(self)

    def close(self) -> None:
        """Destroy cached pipelines, the device and the instance."""
        if getattr(self, "device", None) is None:
            return
        vk = self.vk
        vk.vkDeviceWaitIdle(self.device)
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
