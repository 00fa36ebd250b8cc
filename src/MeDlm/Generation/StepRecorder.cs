using MeDlm.Decoding;
using MeDlm.Kernels;
using MeDlm.Tokenization;

namespace MeDlm.Generation;

/// <summary>Turns the decoder's per-row callbacks into <see cref="GenerationStep"/>s (streaming only).</summary>
internal sealed class StepRecorder(MeDlmTokenizer tokenizer, int maskId, int padId, int deleteId) : IDecodeObserver
{
    private readonly List<GenerationStep> _pending = [];
    private readonly Dictionary<int, CanvasDecoder> _decoders = [];
    private readonly List<TokenChange> _changes = [];

    /// <summary>Steps recorded since the last call, in order.</summary>
    public List<GenerationStep> Pending => _pending;

    /// <summary>Drops what was kept for a finished request (continuous runs see many).</summary>
    public void Forget(int requestIndex) => _decoders.Remove(requestIndex);

    public void OnUnmask(RowState row, ReadOnlySpan<int> positions)
    {
        _changes.Clear();
        int p = row.PromptLength;
        foreach (int i in positions)
        {
            // The reference would also unmask a MASK token typed into the prompt; report it at a negative position.
            _changes.Add(new TokenChange(i - p, TokenChangeKind.Unmasked, maskId, (int)row.Tokens[i]));
        }
        Emit(row, GenerationStage.Unmasking, row.MaskPasses - 1, row.MaskPasses - 1);
    }

    public void OnTransition(RowState row, ReadOnlySpan<long> before)
    {
        // The transform drops every PAD and may overwrite the last kept token with END.
        _changes.Clear();
        ReadOnlySpan<long> after = row.Response;
        int o = 0;
        for (int i = 0; i < before.Length; i++)
        {
            if (before[i] == padId)
            {
                _changes.Add(new TokenChange(i, TokenChangeKind.Deleted, (int)before[i], -1));
                continue;
            }
            if (after[o] != before[i])
            {
                _changes.Add(new TokenChange(o, TokenChangeKind.Replaced, (int)before[i], (int)after[o]));
            }
            o++;
        }
        Emit(row, GenerationStage.Transition, row.MaskPasses - 1, row.MaskPasses - 1);
    }

    public void OnEdit(RowState row, ReadOnlySpan<long> before, ReadOnlySpan<int> cur, ReadOnlySpan<int> nxt, in EditCounts counts)
    {
        _changes.Clear();
        int p = row.PromptLength;
        if (!counts.FixedPoint)
        {
            // Replays the kernel's walk: deletions, then per kept position an insertion (while allowed) and the token.
            int o = 0;
            int inserted = 0;
            for (int i = p; i < before.Length; i++)
            {
                int c = cur[i];
                if (c == deleteId)
                {
                    _changes.Add(new TokenChange(i - p, TokenChangeKind.Deleted, (int)before[i], -1));
                    continue;
                }
                if (nxt[i] != c && inserted < counts.Inserted)
                {
                    _changes.Add(new TokenChange(o++, TokenChangeKind.Inserted, -1, nxt[i]));
                    inserted++;
                }
                if (c != before[i])
                {
                    _changes.Add(new TokenChange(o, TokenChangeKind.Replaced, (int)before[i], c));
                }
                o++;
            }
        }
        Emit(row, GenerationStage.Editing, row.MaskPasses + row.EditRounds - 1, row.EditRounds - 1);
    }

    private void Emit(RowState row, GenerationStage stage, int passIndex, int stagePassIndex)
    {
        int index = row.Plan.RequestIndex;
        if (!_decoders.TryGetValue(index, out CanvasDecoder? decoder))
        {
            decoder = new CanvasDecoder(tokenizer);
            _decoders[index] = decoder;
        }
        ReadOnlySpan<long> response = row.Response;
        int[] ids = new int[response.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = (int)response[i];
        }
        _pending.Add(new GenerationStep
        {
            RequestIndex = index,
            Stage = stage,
            PassIndex = passIndex,
            StagePassIndex = stagePassIndex,
            TokenIds = ids,
            Text = decoder.DecodeToString(ids),
            Changes = [.. _changes],
        });
    }
}
