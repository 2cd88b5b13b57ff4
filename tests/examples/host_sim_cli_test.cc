// SPDX-License-Identifier: MIT
// host_sim's command line: bad flags exit 2 with a message, --help exits 0, and --json carries
// exactly the numbers of the text report.
#include <sstream>
#include <string>
#include <vector>

#include "examples/host_sim/simulation.h"
#include "gtest/gtest.h"
#include "tests/examples/tiny_json.h"

namespace host_sim {
namespace {

struct CommandRun {
  int status;
  std::string out, err;
};

CommandRun Command(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int status = HostSimMain(args, out, err);
  return {status, out.str(), err.str()};
}

TEST(HostSimCli, BadFlagsExitTwoWithAMessageNamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--arch=mips"}, "--arch=mips"},
      {{"--mode=posted"}, "--mode=posted"},
      {{"--pcpus=1"}, "--pcpus=1"},
      {{"--pcpus=4x"}, "--pcpus=4x"},
      {{"--lrs=17"}, "--lrs=17"},
      {{"--duration_us="}, "--duration_us="},
      {{"--msi_rate=-1"}, "--msi_rate=-1"},
      {{"--storm_per_us=nan"}, "--storm_per_us=nan"},
      {{"--seed"}, "--seed needs a value"},
      {{"--colour=blue"}, "unknown flag --colour"},
      {{"extra"}, "unexpected argument 'extra'"},
      {{"--vms=64", "--vcpus=16"}, "512"},
      {{"--mode=amd"}, "--mode=amd"},
      {{"--batch_rate=-1"}, "--batch_rate=-1"},
      {{"--trace="}, "--trace=: expected a file name"},
      {{"--trace=/nonexistent-dir/trace.json"}, "cannot open it for writing"},
      {{"--trace=/tmp/t.json", "--trace_filter=component=x86_sparc"}, "unknown component"},
      {{"--trace=/tmp/t.json", "--trace_filter=vm=99"}, "vm must be 0..63"},
      {{"--trace=/tmp/t.json", "--trace_filter=from_us=9,to_us=5"}, "to_us is before from_us"},
      {{"--trace=/tmp/t.json", "--trace_filter=colour=blue"}, "unknown key 'colour'"},
      {{"--trace=/tmp/t.json", "--trace_filter=vm"}, "is not key=value"},
      {{"--trace_filter=vm=1"}, "--trace_filter needs --trace"},
  };
  for (const auto& [args, message] : cases) {
    const CommandRun r = Command(args);
    EXPECT_EQ(r.status, 2) << args[0];
    EXPECT_NE(r.err.find(message), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_EQ(r.out, "") << "no report for bad flags";
  }
}

TEST(HostSimCli, HelpListsEveryFlagAndExitsZero) {
  const CommandRun r = Command({"--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* flag : {"--arch", "--mode", "--seed", "--duration_us", "--pcpus", "--vms",
                           "--vcpus", "--devices", "--lrs", "--json", "--storm_rate", "--check",
                           "--trace", "--trace_filter", "--batch_rate"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

TEST(HostSimCli, JsonParsesAndCarriesTheTextReportsNumbers) {
  const std::vector<std::string> args = {"--duration_us=5000", "--seed=3"};
  const CommandRun text = Command(args);
  std::vector<std::string> json_args = args;
  json_args.push_back("--json");
  const CommandRun json = Command(json_args);
  ASSERT_EQ(text.status, 0) << text.err;
  ASSERT_EQ(json.status, 0) << json.err;

  const auto flat = tiny_json::Reader(json.out).Flatten();
  ASSERT_TRUE(flat.has_value()) << "not JSON:\n" << json.out;
  EXPECT_EQ(flat->at("ok"), "true");
  // Every component row of the text report shows the JSON's raised / delivered / lost.
  int components = 0, metrics = 0;
  for (const auto& [path, value] : *flat) {
    if (path.rfind("components.", 0) == 0 && path.size() > 6 &&
        path.compare(path.size() - 6, 6, ".title") == 0) {
      const std::string prefix = path.substr(0, path.size() - 6);
      const size_t row = text.out.find("  " + value + " ");
      ASSERT_NE(row, std::string::npos) << value;
      const std::string line = text.out.substr(row, text.out.find('\n', row) - row);
      std::istringstream numbers(line.substr(2 + value.size()));
      std::string raised, delivered, lost;
      numbers >> raised >> delivered >> lost;
      EXPECT_EQ(raised, flat->at(prefix + ".raised")) << line;
      EXPECT_EQ(delivered, flat->at(prefix + ".delivered")) << line;
      EXPECT_EQ(lost, flat->at(prefix + ".lost")) << line;
      ++components;
    }
    // Every section metric appears in the text as "key value".
    if (path.rfind("sections.", 0) == 0) {
      const std::string key = path.substr(path.rfind('.') + 1);
      EXPECT_NE(text.out.find(" " + key + " " + value), std::string::npos) << path << " " << value;
      ++metrics;
    }
  }
  EXPECT_GE(components, 4);
  EXPECT_GE(metrics, 40);
}

TEST(HostSimCli, TinyJsonRejectsBrokenDocuments) {
  EXPECT_FALSE(tiny_json::Reader("{\"a\": 1,}").Flatten().has_value());
  EXPECT_FALSE(tiny_json::Reader("{\"a\": 1} x").Flatten().has_value());
  EXPECT_FALSE(tiny_json::Reader("{\"a\": 12abc}").Flatten().has_value());
  EXPECT_EQ(tiny_json::Reader("{\"a\": {\"b\": [1, \"x\"]}}").Flatten()->at("a.b.1"), "x");
}

}  // namespace
}  // namespace host_sim
