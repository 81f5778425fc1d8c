using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Features;

// The submodules below mirror Hugging Face's CLIP vision classes; their field names are the state-dict keys
// (e.g. vision_model.encoder.layers.3.self_attn.q_proj.weight), so a checkpoint maps onto them one to one.

/// <summary>Patch conv (no bias) + CLS token + learned position embeddings.</summary>
internal sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    readonly Parameter class_embedding;
    readonly RoutedConv2d patch_embedding; // the checked convolution route (issue 12), nn.Conv2d's keys
    readonly Embedding position_embedding;
    readonly int _width;

    public ClipVisionEmbeddings(ClipVisionConfig c) : base(nameof(ClipVisionEmbeddings))
    {
        _width = c.HiddenSize;
        class_embedding = new Parameter(zeros(c.HiddenSize));
        patch_embedding = new RoutedConv2d(c.NumChannels, c.HiddenSize, c.PatchSize, stride: c.PatchSize,
            hasBias: false);
        position_embedding = nn.Embedding(c.NumTokens, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixelValues)
    {
        long b = pixelValues.shape[0];
        var patches = patch_embedding.call(pixelValues).flatten(2).transpose(1, 2); // (B, grid², W), row-major patches
        var cls = class_embedding.view(1, 1, _width).expand(b, 1, _width);
        var tokens = cat([cls, patches], 1);
        return tokens + position_embedding.weight!.unsqueeze(0);
    }
}

internal sealed class ClipAttention : nn.Module<Tensor, Tensor>
{
    readonly Linear q_proj, k_proj, v_proj, out_proj;
    readonly int _heads, _headDim;

    public ClipAttention(ClipVisionConfig c) : base(nameof(ClipAttention))
    {
        _heads = c.NumAttentionHeads; _headDim = c.HeadDim;
        q_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        k_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        v_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        out_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], w = x.shape[2];
        Tensor Heads(Linear proj) => proj.call(x).view(b, t, _heads, _headDim).transpose(1, 2); // (B, H, T, D)
        // SDPA scales by 1/sqrt(head_dim), as HF does with q * scale.
        var o = F.scaled_dot_product_attention(Heads(q_proj), Heads(k_proj), Heads(v_proj));
        return out_proj.call(o.transpose(1, 2).reshape(b, t, w));
    }
}

internal sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear fc1, fc2;
    readonly string _act;

    public ClipMlp(ClipVisionConfig c) : base(nameof(ClipMlp))
    {
        _act = c.HiddenAct;
        fc1 = nn.Linear(c.HiddenSize, c.IntermediateSize);
        fc2 = nn.Linear(c.IntermediateSize, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = fc1.call(x);
        h = _act switch
        {
            "quick_gelu" => h * sigmoid(h * 1.702),
            "gelu" => F.gelu(h),
            _ => F.gelu(h, GELU.Approximate.tanh), // gelu_new, gelu_pytorch_tanh
        };
        return fc2.call(h);
    }
}

internal sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor>
{
    readonly ClipAttention self_attn;
    readonly LayerNorm layer_norm1;
    readonly ClipMlp mlp;
    readonly LayerNorm layer_norm2;

    public ClipEncoderLayer(ClipVisionConfig c) : base(nameof(ClipEncoderLayer))
    {
        self_attn = new ClipAttention(c);
        layer_norm1 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        mlp = new ClipMlp(c);
        layer_norm2 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = x + self_attn.call(layer_norm1.call(x));
        return h + mlp.call(layer_norm2.call(h));
    }
}

internal sealed class ClipEncoder : nn.Module
{
    public readonly ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(ClipVisionConfig c) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, c.NumHiddenLayers)
            .Select(_ => new ClipEncoderLayer(c)).ToArray());
        RegisterComponents();
    }
}

internal sealed class ClipVisionTransformer : nn.Module
{
    public readonly ClipVisionEmbeddings embeddings;
    public readonly LayerNorm pre_layrnorm; // sic: HF's spelling, it is the state-dict key
    public readonly ClipEncoder encoder;
    public readonly LayerNorm post_layernorm;

    public ClipVisionTransformer(ClipVisionConfig c) : base(nameof(ClipVisionTransformer))
    {
        embeddings = new ClipVisionEmbeddings(c);
        pre_layrnorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        encoder = new ClipEncoder(c);
        post_layernorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }
}
