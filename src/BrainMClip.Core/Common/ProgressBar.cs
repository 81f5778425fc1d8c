using System.Diagnostics;

namespace BrainMClip;

/// <summary>
/// Progress for long work, written to stderr so stdout stays machine-readable JSON.
/// On a terminal it redraws one line; otherwise (CI, logs) it prints a line at most every few seconds.
/// </summary>
public sealed class ProgressBar : IDisposable
{
    readonly string _label;
    readonly long _total;
    readonly string _unit;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly bool _interactive = !Console.IsErrorRedirected;
    readonly TextWriter _out;
    long _done;
    double _lastDraw = -1;
    string _status = "";

    public ProgressBar(string label, long total, string unit = "it", TextWriter? output = null)
    {
        _label = label; _total = Math.Max(total, 0); _unit = unit; _out = output ?? Console.Error;
        Draw(force: true);
    }

    public long Done => _done;

    /// <summary>Advances by <paramref name="n"/> units; <paramref name="status"/> is shown after the rate (e.g. "loss
    /// 0.31").</summary>
    public void Advance(long n = 1, string? status = null)
    {
        _done += n;
        if (status != null) _status = status;
        Draw(force: _done >= _total);
    }

    public void SetStatus(string status) { _status = status; Draw(force: false); }

    void Draw(bool force)
    {
        double t = _clock.Elapsed.TotalSeconds;
        double minGap = _interactive ? 0.1 : 5.0;
        if (!force && t - _lastDraw < minGap) return;
        _lastDraw = t;
        double rate = t > 0 ? _done / t : 0;
        double frac = _total > 0 ? Math.Min(1.0, (double)_done / _total) : 0;
        string eta = rate > 0 && _total > _done ? $" eta {Fmt((_total - _done) / rate)}" : "";
        string line;
        if (_interactive)
        {
            int width = 24, filled = (int)Math.Round(frac * width);
            line =
                $"\r{_label} [{new string('#', filled)}{new string('.', width - filled)}] {_done}/{_total} " +
                $"{rate:0.0} {_unit}/s{eta} {_status}";
            _out.Write(line.PadRight(Math.Min(120, line.Length + 2)));
        }
        else
        {
            line = $"{_label}: {_done}/{_total} ({frac:P0}) {rate:0.0} {_unit}/s{eta} {_status}";
            _out.WriteLine(line.TrimEnd());
        }
    }

    static string Fmt(double s) => s < 60 ? $"{s:0}s" : s < 3600 ? $"{s / 60:0.0}m" : $"{s / 3600:0.0}h";

    public void Dispose()
    {
        if (_interactive) { Draw(force: true); _out.WriteLine(); }
        else if (_lastDraw >= 0 && _done < _total) Draw(force: true);
    }
}
