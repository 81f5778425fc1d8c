using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace BrainMClip.IO;

/// <summary>Raw access to a CPU tensor's storage (TorchSharp's <c>bytes</c> span stops at 2 GiB).</summary>
public static class TensorMemory
{
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>Pointer to the first element of a contiguous CPU tensor.</summary>
    public static unsafe byte* Pointer(Tensor t)
    {
        if (t.device_type != TorchSharp.DeviceType.CPU) throw new ArgumentException("tensor must be on the CPU");
        if (!t.is_contiguous()) throw new ArgumentException("tensor must be contiguous");
        return (byte*)THSTensor_data(t.Handle);
    }

    public static long ByteCount(Tensor t) => t.numel() * t.element_size();
}
