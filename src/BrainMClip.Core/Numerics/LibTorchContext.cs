using System.Runtime.InteropServices;

namespace BrainMClip.Numerics;

/// <summary>
/// The few process-wide libtorch switches TorchSharp 0.107 does not expose, reached through libtorch_cpu's exported
/// C++ symbols (Itanium mangling, checked with <c>nm -D libtorch_cpu.so</c> for libtorch 2.10). A member function takes
/// the object as its first argument in the SysV x86-64 ABI, so <c>at::Context::f(bool)</c> is <c>f(Context*, bool)</c>.
/// This is what Python's <c>torch.backends.mkldnn.enabled = False</c> and <c>torch.backends.nnpack.set_flags</c> do.
/// </summary>
public static partial class LibTorchContext
{
    const string Lib = "libtorch_cpu";

    [LibraryImport(Lib, EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport(Lib, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr ctx, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Lib, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr ctx);

    [LibraryImport(Lib, EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static partial void SetUserEnabledNnpack(IntPtr ctx, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Lib, EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledNnpack(IntPtr ctx);

    // at::show_config() returns a std::string (libstdc++ C++11 ABI) through a hidden result pointer: 32 bytes holding
    // {char* data, size_t length, 16-byte buffer/capacity}.
    [LibraryImport(Lib, EntryPoint = "_ZN2at11show_configB5cxx11Ev")]
    private static partial void ShowConfigInto(IntPtr result);

    /// <summary>Whether libtorch may use oneDNN (mkldnn) kernels; a process-wide libtorch flag.</summary>
    public static bool OneDnnEnabled
    {
        get => UserEnabledMkldnn(GlobalContext());
        set => SetUserEnabledMkldnn(GlobalContext(), value);
    }

    /// <summary>
    /// Whether libtorch may try NNPACK. On CPUs NNPACK does not support, every convolution that falls back from oneDNN
    /// tries it and prints "Could not initialize NNPACK! Reason: Unsupported hardware." — hundreds of lines per run.
    /// </summary>
    public static bool NnpackEnabled
    {
        get => UserEnabledNnpack(GlobalContext());
        set => SetUserEnabledNnpack(GlobalContext(), value);
    }

    /// <summary>libtorch's build description (<c>torch.__config__.show()</c>): BLAS, oneDNN, CPU capability.</summary>
    public static string ShowConfig()
    {
        IntPtr buf = Marshal.AllocHGlobal(32);
        try
        {
            ShowConfigInto(buf);
            IntPtr data = Marshal.ReadIntPtr(buf);
            long length = Marshal.ReadInt64(buf, 8);
            // The heap block of a long string is libstdc++'s to free; it is allocated once per call and small (~1 KB),
            // so it is left alone rather than freed with a guessed deleter.
            return Marshal.PtrToStringUTF8(data, checked((int)length));
        }
        finally { Marshal.FreeHGlobal(buf); }
    }
}
