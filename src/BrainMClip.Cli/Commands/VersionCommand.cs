using System.CommandLine;
using System.Text.Json;
using TorchSharp;

namespace BrainMClip.Cli.Commands;

/// <summary>Prints versions and the torch backend; also a quick check that libtorch loads on this machine.</summary>
public sealed class VersionCommand : ICliCommand
{
    public string[] Path => ["version"];
    public string Description => "Print versions, the libtorch build, thread count and available devices as JSON.";

    public void Configure(Command command)
    {
        command.SetAction(_ =>
        {
            var info = new
            {
                brainmclip = typeof(VersionCommand).Assembly.GetName().Version?.ToString(),
                torch = torch.__version__,
                threads = torch.get_num_threads(),
                cuda = torch.cuda.is_available(),
                dotnet = Environment.Version.ToString(),
            };
            Console.WriteLine(JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
