#include "operator/kube/pod_proto_decoder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "kube/core_v1_subset.pb.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/watch_decoder.h"

namespace bursar::kube {
namespace {

// tests/testdata/gpu-pod.json created on kube-apiserver 1.35 (with its status written through
// /status) and read back twice: as JSON (gpu-pod.server.json, compacted) and as protobuf
// (gpu-pod.server.pb.hex: the response body, "k8s\0" + Unknown{Pod}, in hex).
std::string ReadFile(const std::string& name) {
  std::ifstream in(std::string(BURSAR_SOURCE_DIR) + "/tests/testdata/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& ServerJson() {
  static const std::string* json = new std::string(ReadFile("gpu-pod.server.json"));
  return *json;
}

const std::string& ServerProtobuf() {
  static const std::string* bytes = [] {
    std::string hex = absl::StrReplaceAll(ReadFile("gpu-pod.server.pb.hex"), {{"\n", ""}});
    return new std::string(absl::HexStringToBytes(hex));
  }();
  return *bytes;
}

constexpr char kMagic[] = {'k', '8', 's', '\0'};

// "k8s\0" + Unknown{typeMeta{v1, kind}, raw}.
std::string Envelope(std::string_view kind, const std::string& raw) {
  wire::Unknown unknown;
  unknown.mutable_type_meta()->set_api_version("v1");
  unknown.mutable_type_meta()->set_kind(std::string(kind));
  unknown.set_raw(raw);
  return std::string(kMagic, 4) + unknown.SerializeAsString();
}

// The Pod message inside the server's envelope.
std::string PodMessage() {
  wire::Unknown unknown;
  const std::string& body = ServerProtobuf();
  EXPECT_TRUE(unknown.ParseFromArray(body.data() + 4, static_cast<int>(body.size() - 4)));
  return unknown.raw();
}

std::string Frame(std::string_view type, const std::string& object) {
  wire::WatchEvent event;
  event.set_type(std::string(type));
  event.mutable_object()->set_raw(object);
  return event.SerializeAsString();
}

TEST(PodProtoDecoderTest, TheServersProtobufGivesTheSummaryOfItsJson) {
  for (const std::vector<std::string>& keys :
       {std::vector<std::string>{PodSummaryDecoder::kAllLabels},
        std::vector<std::string>{"bursar.dev/budget", "app.kubernetes.io/name"},
        std::vector<std::string>{}}) {
    PodSummaryDecoder json_decoder(keys);
    PodProtoDecoder proto_decoder(keys);
    absl::StatusOr<PodSummary> from_json = json_decoder.DecodePod(ServerJson());
    absl::StatusOr<PodSummary> from_proto = proto_decoder.DecodePod(ServerProtobuf());
    ASSERT_TRUE(from_json.ok()) << from_json.status();
    ASSERT_TRUE(from_proto.ok()) << from_proto.status();
    EXPECT_EQ(*from_proto, *from_json);
  }
  // And the summary is the real thing, not two empty ones.
  PodProtoDecoder decoder({PodSummaryDecoder::kAllLabels});
  absl::StatusOr<PodSummary> pod = decoder.DecodePod(ServerProtobuf());
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->name, "llama-finetune-7b-worker-0-x7k2p");
  EXPECT_EQ(pod->namespace_name.view(), "ml-research");
  EXPECT_EQ(pod->phase, PodPhase::kRunning);
  EXPECT_EQ(pod->owner_kind.view(), "Job");
  EXPECT_GT(pod->TotalGpus(), 0);
  EXPECT_TRUE(pod->start_time.has_value());
  ASSERT_GE(pod->containers.size(), 2u);
  EXPECT_GT(pod->labels.size(), 3u);
  bool some_finished = false;
  for (const ContainerSummary& c : pod->containers) {
    some_finished = some_finished || c.finished_at.has_value();
  }
  EXPECT_TRUE(some_finished);
}

// spec.terminationGracePeriodSeconds (how long a drained pod may run on): both decoders read it,
// give Kubernetes' default when it is absent, and hold it within an int32.
TEST(PodProtoDecoderTest, BothDecodersReadTheTerminationGrace) {
  wire::Pod pod;
  ASSERT_TRUE(pod.ParseFromString(PodMessage()));
  ASSERT_EQ(pod.spec().termination_grace_period_seconds(), 30);  // the fixture's
  PodProtoDecoder proto_decoder(std::vector<std::string>{});
  PodSummaryDecoder json_decoder(std::vector<std::string>{});
  struct Case {
    std::optional<int64_t> grace;
    int32_t want;
  };
  for (const Case& c : {Case{600, 600}, Case{std::nullopt, kDefaultTerminationGraceSeconds},
                        Case{int64_t{1} << 40, std::numeric_limits<int32_t>::max()}}) {
    std::string json = ServerJson();
    if (c.grace.has_value()) {
      pod.mutable_spec()->set_termination_grace_period_seconds(*c.grace);
      json = absl::StrReplaceAll(json,
                                 {{"\"terminationGracePeriodSeconds\":30",
                                   absl::StrCat("\"terminationGracePeriodSeconds\":", *c.grace)}});
    } else {
      pod.mutable_spec()->clear_termination_grace_period_seconds();
      json = absl::StrReplaceAll(json, {{"\"terminationGracePeriodSeconds\":30,", ""}});
    }
    absl::StatusOr<PodSummary> from_proto =
        proto_decoder.DecodePod(Envelope("Pod", pod.SerializeAsString()));
    absl::StatusOr<PodSummary> from_json = json_decoder.DecodePod(json);
    ASSERT_TRUE(from_proto.ok()) << from_proto.status();
    ASSERT_TRUE(from_json.ok()) << from_json.status();
    EXPECT_EQ(from_proto->termination_grace_seconds, c.want);
    EXPECT_EQ(from_json->termination_grace_seconds, c.want);
  }
}

TEST(PodProtoDecoderTest, DecodesListPagesAndWatchFrames) {
  const std::string pod = PodMessage();
  wire::PodList list;
  list.mutable_metadata()->set_resource_version("91");
  list.mutable_metadata()->set_continue_("next-page");
  ASSERT_TRUE(list.add_items()->ParseFromString(pod));
  ASSERT_TRUE(list.add_items()->ParseFromString(pod));
  PodProtoDecoder decoder({PodSummaryDecoder::kAllLabels});
  absl::StatusOr<PodSummary> alone = decoder.DecodePod(ServerProtobuf());
  ASSERT_TRUE(alone.ok()) << alone.status();

  absl::StatusOr<PodListPage> page =
      decoder.DecodePodList(Envelope("PodList", list.SerializeAsString()));
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->resource_version, "91");
  EXPECT_EQ(page->continue_token, "next-page");
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[1], *alone);

  absl::StatusOr<PodWatchEvent> modified =
      decoder.DecodeWatchFrame(Frame("MODIFIED", ServerProtobuf()));
  ASSERT_TRUE(modified.ok()) << modified.status();
  EXPECT_EQ(modified->type, WatchEvent::Type::kModified);
  EXPECT_EQ(modified->pod, *alone);
  EXPECT_FALSE(modified->initial_events_end);

  wire::Pod bookmark;
  bookmark.mutable_metadata()->set_resource_version("120");
  (*bookmark.mutable_metadata()->mutable_annotations())["k8s.io/initial-events-end"] = "true";
  absl::StatusOr<PodWatchEvent> end =
      decoder.DecodeWatchFrame(Frame("BOOKMARK", Envelope("Pod", bookmark.SerializeAsString())));
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(end->type, WatchEvent::Type::kBookmark);
  EXPECT_TRUE(end->initial_events_end);
  EXPECT_EQ(end->pod.resource_version, "120");
}

TEST(PodProtoDecoderTest, ErrorFramesComeBackAsTheirStatus) {
  wire::Status status;
  status.set_status("Failure");
  status.set_reason("Expired");
  status.set_message("too old resource version: 5 (91)");
  status.set_code(410);
  PodProtoDecoder decoder;
  absl::StatusOr<PodWatchEvent> event =
      decoder.DecodeWatchFrame(Frame("ERROR", Envelope("Status", status.SerializeAsString())));
  ASSERT_FALSE(event.ok());
  EXPECT_TRUE(IsGone(event.status())) << event.status();
  EXPECT_NE(event.status().message().find("too old resource version"), std::string::npos);
}

TEST(PodProtoDecoderTest, RejectsWhatIsNotAPodWithAClearError) {
  PodProtoDecoder decoder;
  const std::string& good = ServerProtobuf();
  struct Case {
    std::string bytes;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"", "prefix"},
           {"{\"kind\":\"Pod\"}", "prefix"},
           {good.substr(0, good.size() / 2), "not a runtime.Unknown"},
           {Envelope("Node", PodMessage()), "kind \"Node\" is not Pod"},
           {Envelope("Pod", "\xff\xff\xff"), "not a Pod message"},
       }) {
    absl::StatusOr<PodSummary> pod = decoder.DecodePod(c.bytes);
    ASSERT_FALSE(pod.ok());
    EXPECT_EQ(pod.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(pod.status().message().find(c.expected), std::string::npos) << pod.status();
  }
  absl::StatusOr<PodWatchEvent> event = decoder.DecodeWatchFrame(Frame("RENAMED", good));
  ASSERT_FALSE(event.ok());
  EXPECT_NE(event.status().message().find("RENAMED"), std::string::npos) << event.status();
}

TEST(PodProtoDecoderTest, NamesTheFieldOfABadQuantity) {
  wire::Pod pod;
  ASSERT_TRUE(pod.ParseFromString(PodMessage()));
  (*pod.mutable_spec()->mutable_containers(0)->mutable_resources()->mutable_requests())["cpu"]
      .set_string("lots");
  PodProtoDecoder decoder;
  absl::StatusOr<PodSummary> decoded = decoder.DecodePod(Envelope("Pod", pod.SerializeAsString()));
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("spec.containers[].resources.requests"),
            std::string::npos)
      << decoded.status();
}

}  // namespace
}  // namespace bursar::kube
