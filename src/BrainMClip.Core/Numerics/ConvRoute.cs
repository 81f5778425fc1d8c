using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Numerics;

/// <summary>
/// How the project's 2-D convolutions are computed (issue 12: oneDNN 3.7.1 in libtorch 2.10 is wrong on some CPUs).
/// </summary>
public enum ConvRoute
{
    /// <summary>libtorch as is (oneDNN where libtorch picks it): fastest where oneDNN is right.</summary>
    OneDnn,
    /// <summary>Channel tails zero-padded to the kernel block (same maths); half dtypes run in float32.</summary>
    ZeroPad,
    /// <summary>Channel-tail convolutions as unfold (im2col) + batched matmul: no oneDNN conv kernel.</summary>
    Unfold,
    /// <summary>oneDNN off for the whole process (libtorch's own im2col/GEMM convolution): the last resort.</summary>
    OneDnnOff,
}

/// <summary>A 2-D convolution computed along a chosen <see cref="ConvRoute"/>; pure functions, no state.</summary>
public static class ConvKernels
{
    /// <summary>oneDNN's float32 channel block on AVX-512 (16 lanes); multiples of it take no tail path.</summary>
    public const long Block = 16;

    /// <summary>
    /// Whether a convolution has a channel count outside the measured-correct set: a reduced input-channel tail in a
    /// spatial (k &gt; 1) kernel, or an output-channel tail (reduced in backward-data; the bf16 fault). 1×1
    /// forward with any input count was measured right; grouped (depthwise) convolutions are outside the measured fault
    /// class.
    /// </summary>
    public static bool HasChannelTail(long cin, long cout, long kernel, long groups) =>
        groups == 1 && ((kernel > 1 && cin % Block != 0) || cout % Block != 0);

    /// <summary>conv2d(x, w, b) with square stride/padding, along <paramref name="route"/>.</summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? b, long stride, long padding, long groups, ConvRoute route)
    {
        long cout = w.shape[0], cin = w.shape[1] * groups, k = w.shape[2];
        if (route is ConvRoute.OneDnn or ConvRoute.OneDnnOff || w.shape[3] != k
            || !HasChannelTail(cin, cout, k, groups))
            return Native(x, w, b, stride, padding, groups);
        using var scope = NewDisposeScope();
        var dtype = x.dtype;
        bool half = dtype is ScalarType.BFloat16 or ScalarType.Float16;
        // The bf16 fault is in oneDNN's native bf16 kernel: the tail convolutions of half models run in float32.
        var xf = half ? x.to_type(ScalarType.Float32) : x;
        var wf = half ? w.to_type(ScalarType.Float32) : w;
        var bf = b is null ? null : half ? b.to_type(ScalarType.Float32) : b;
        var y = route == ConvRoute.ZeroPad
            ? ZeroPadded(xf, wf, bf, stride, padding)
            : Unfolded(xf, wf, bf, stride, padding);
        if (half) y = y.to_type(dtype);
        return y.MoveToOuterDisposeScope();
    }

    static Tensor Native(Tensor x, Tensor w, Tensor? b, long stride, long padding, long groups) =>
        F.conv2d(x, w, b, strides: [stride], padding: [padding], dilation: [1], groups: groups);

    static long RoundUp(long c) => (c + Block - 1) / Block * Block;

    /// <summary>
    /// Input channels (k &gt; 1) and output channels padded with zeros to the block: the extra input channels meet zero
    /// weights, the extra outputs are dropped, so the result and every gradient are the unpadded ones exactly.
    /// </summary>
    static Tensor ZeroPadded(Tensor x, Tensor w, Tensor? b, long stride, long padding)
    {
        long cout = w.shape[0], cin = w.shape[1], k = w.shape[2];
        long padIn = k > 1 ? RoundUp(cin) - cin : 0, padOut = RoundUp(cout) - cout;
        var xp = padIn > 0 ? F.pad(x, [0, 0, 0, 0, 0, padIn]) : x;
        var wp = F.pad(w, [0, 0, 0, 0, 0, padIn, 0, padOut]);
        var bp = b is null || padOut == 0 ? b : F.pad(b, [0, padOut]);
        var y = Native(xp, wp, bp, stride, padding, 1);
        return padOut > 0 ? y.narrow(1, 0, cout).contiguous() : y;
    }

    /// <summary>im2col: (B, C·k·k, L) columns times the (Cout, C·k·k) weights; autograd goes through col2im.</summary>
    static Tensor Unfolded(Tensor x, Tensor w, Tensor? b, long stride, long padding)
    {
        long batch = x.shape[0], cout = w.shape[0], k = w.shape[2];
        long hOut = (x.shape[2] + 2 * padding - k) / stride + 1, wOut = (x.shape[3] + 2 * padding - k) / stride + 1;
        var cols = F.unfold(x, k, dilation: 1, padding: padding, stride: stride);
        var wm = w.reshape(cout, -1).unsqueeze(0).expand(batch, cout, cols.shape[1]);
        var y = bmm(wm, cols);
        if (b is not null) y = y + b.view(1, cout, 1);
        return y.view(batch, cout, hOut, wOut);
    }
}
