using System.CommandLine;
using System.Text.Json;
using BrainMClip.Numerics;

namespace BrainMClip.Cli.Commands;

/// <summary>
/// What this machine is and whether the numerics the project uses are right on it (issue 12): run it first on a new
/// machine or cluster node. Exit 0 when every check that the default code paths rely on passes, 1 otherwise.
/// </summary>
public sealed class DoctorCommand : ICliCommand
{
    public string[] Path => ["doctor"];
    public string Description =>
        "Check this machine: CPU, threads, libtorch/oneDNN/BLAS, and numerical self-checks against float64 " +
        "(convolutions with channel tails, matmul, attention, norms, bf16/fp16). JSON on stdout; exit 1 if a check " +
        "fails. --summary: one line naming the CPU and kernels, no checks (test.sh prints it into every test log).";

    readonly Option<bool> summary = new("--summary")
    {
        Description = "Print one line (CPU model, vendor/family/model/stepping, threads, vector extension, libtorch " +
            "capability, oneDNN) and exit 0, without the numerical checks."
    };

    public void Configure(Command command)
    {
        var device = SharedOptions.Device();
        device.Description += " The self-checks run there (against float64 on the CPU).";
        command.Options.Add(device);
        command.Options.Add(summary);
        command.SetAction(parse =>
        {
            if (parse.GetValue(summary))
            {
                Console.WriteLine(MachineInfo.Collect().Summary);
                return 0;
            }
            var dev = SharedOptions.GetDevice(parse, device);
            var decision = ConvPolicy.Current; // first: it may switch oneDNN off, which MachineInfo reports
            var machine = MachineInfo.Collect();
            var checks = NumericsSelfTest.Run(decision.Route, dev);
            var failing = checks.Where(c => c.Counted && !c.Pass).Select(c => c.Name).ToList();
            var report = new
            {
                ok = failing.Count == 0,
                failing,
                device = dev.ToString(),
                torch_backend = TorchSetup.Backend,
                machine,
                convolutions = new
                {
                    route = decision.Route.ToString(),
                    reason = decision.Reason,
                    probes = decision.Probes.Select(p => new
                    {
                        route = p.Route.ToString(),
                        pass = p.Pass,
                        milliseconds = Math.Round(p.Milliseconds, 1),
                        results = p.Results.Select(r =>
                            new { name = r.Name, error = r.Error, tolerance = r.Tolerance, pass = r.Pass }),
                    }),
                },
                checks = checks.Select(c => new
                {
                    name = c.Name,
                    error = double.IsFinite(c.Error) ? c.Error : (double?)null,
                    finite = double.IsFinite(c.Error),
                    tolerance = c.Tolerance,
                    pass = c.Pass,
                    counted = c.Counted,
                }),
            };
            var options = new JsonSerializerOptions
            {
                WriteIndented = true,
                PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
                Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            };
            Console.WriteLine(JsonSerializer.Serialize(report, options));
            Console.Error.WriteLine(failing.Count > 0
                ? $"doctor: {failing.Count} check(s) FAILED: {string.Join("; ", failing)}"
                : $"doctor: all {checks.Count(c => c.Counted)} checks pass (convolution route {decision.Route})");
            return failing.Count == 0 ? 0 : 1;
        });
    }
}
