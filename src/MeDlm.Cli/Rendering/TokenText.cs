using MeDlm.Tokenization;

namespace MeDlm.Cli.Rendering;

/// <summary>How one canvas token is drawn: its text, or a placeholder for the special tokens.</summary>
internal sealed class TokenText(MeDlmTokenizer tokenizer, SpecialTokens special)
{
    /// <summary>A mask still waiting to be filled in.</summary>
    public const string MaskGlyph = "░";

    private readonly Dictionary<int, string> _cache = [];

    public bool IsMask(int id) => id == special.Mask;

    public bool IsSpecial(int id) => id == special.Mask || id == special.Pad || id == special.End || id == special.Eos || id == special.Delete;

    /// <summary>The token's text; PAD, END and DELETE get short visible names.</summary>
    public string Get(int id)
    {
        if (_cache.TryGetValue(id, out string? s))
        {
            return s;
        }
        s = id == special.Mask ? MaskGlyph
            : id == special.End ? "⟨end⟩"
            : id == special.Pad || id == special.Eos ? "⟨pad⟩"
            : id == special.Delete ? "⟨del⟩"
            : tokenizer.Decode([id]);
        _cache[id] = s;
        return s;
    }
}
