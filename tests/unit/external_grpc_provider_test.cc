#include "controllers/providers/external_grpc_provider.h"

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/loopback_grpc_server.h"

namespace bursar::providers {
namespace {

namespace pb = clusterautoscaler::cloudprovider::v1::externalgrpc;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One fake node group behind the CloudProvider service: a target size and instances, changed
// the way a real provider would (IncreaseSize adds creating instances, DeleteNodes removes the
// named ones and lowers the target). Thread-safe: gRPC calls handlers on its own threads.
class FakeCloudProvider final : public pb::CloudProvider::Service {
 public:
  FakeCloudProvider(std::string group, int target, std::vector<std::string> running_ids)
      : group_(std::move(group)), target_(target), ids_(std::move(running_ids)) {}

  int target() const {
    absl::MutexLock lock(&mu_);
    return target_;
  }
  std::vector<std::string> ids() const {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  int mutations() const {
    absl::MutexLock lock(&mu_);
    return mutations_;
  }
  // Raises the target without instances: requests the cloud has not fulfilled yet.
  void RequestWithoutInstances(int n) {
    absl::MutexLock lock(&mu_);
    target_ += n;
  }
  // Makes NodeGroupTargetSize block until Release() (or 5 s), to test client deadlines.
  void Stall() { stall_ = true; }
  void Release() { release_.Notify(); }

  grpc::Status NodeGroupTargetSize(grpc::ServerContext*, const pb::NodeGroupTargetSizeRequest* req,
                                   pb::NodeGroupTargetSizeResponse* resp) override {
    if (stall_) {
      release_.WaitForNotificationWithTimeout(absl::Seconds(5));
    }
    absl::MutexLock lock(&mu_);
    if (req->id() != group_) {
      return Unknown(req->id());
    }
    resp->set_targetsize(target_);
    return grpc::Status::OK;
  }

  grpc::Status NodeGroupNodes(grpc::ServerContext*, const pb::NodeGroupNodesRequest* req,
                              pb::NodeGroupNodesResponse* resp) override {
    absl::MutexLock lock(&mu_);
    if (req->id() != group_) {
      return Unknown(req->id());
    }
    for (const std::string& id : ids_) {
      pb::Instance* instance = resp->add_instances();
      instance->set_id(id);
      instance->mutable_status()->set_instancestate(id.find("new-") == std::string::npos
                                                        ? pb::InstanceStatus::instanceRunning
                                                        : pb::InstanceStatus::instanceCreating);
    }
    return grpc::Status::OK;
  }

  grpc::Status NodeGroupIncreaseSize(grpc::ServerContext*,
                                     const pb::NodeGroupIncreaseSizeRequest* req,
                                     pb::NodeGroupIncreaseSizeResponse*) override {
    absl::MutexLock lock(&mu_);
    if (req->id() != group_) {
      return Unknown(req->id());
    }
    if (req->delta() <= 0) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "delta must be positive"};
    }
    ++mutations_;
    for (int i = 0; i < req->delta(); ++i) {
      ids_.push_back(absl::StrCat("fake://", group_, "/new-", next_++));
    }
    target_ += req->delta();
    return grpc::Status::OK;
  }

  grpc::Status NodeGroupDeleteNodes(grpc::ServerContext*,
                                    const pb::NodeGroupDeleteNodesRequest* req,
                                    pb::NodeGroupDeleteNodesResponse*) override {
    absl::MutexLock lock(&mu_);
    if (req->id() != group_) {
      return Unknown(req->id());
    }
    for (const pb::ExternalGrpcNode& node : req->nodes()) {
      if (std::find(ids_.begin(), ids_.end(), node.providerid()) == ids_.end()) {
        return {grpc::StatusCode::NOT_FOUND, "node " + node.providerid() + " not in group"};
      }
    }
    ++mutations_;
    for (const pb::ExternalGrpcNode& node : req->nodes()) {
      ids_.erase(std::find(ids_.begin(), ids_.end(), node.providerid()));
      --target_;
    }
    return grpc::Status::OK;
  }

  grpc::Status NodeGroupDecreaseTargetSize(grpc::ServerContext*,
                                           const pb::NodeGroupDecreaseTargetSizeRequest* req,
                                           pb::NodeGroupDecreaseTargetSizeResponse*) override {
    absl::MutexLock lock(&mu_);
    if (req->id() != group_) {
      return Unknown(req->id());
    }
    if (req->delta() >= 0 || target_ + req->delta() < static_cast<int>(ids_.size())) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "cannot decrease below registered nodes"};
    }
    ++mutations_;
    target_ += req->delta();
    return grpc::Status::OK;
  }

 private:
  static grpc::Status Unknown(const std::string& id) {
    return {grpc::StatusCode::NOT_FOUND, "no node group " + id};
  }

  const std::string group_;
  mutable absl::Mutex mu_;
  int target_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
  int mutations_ ABSL_GUARDED_BY(mu_) = 0;
  int next_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stall_{false};
  absl::Notification release_;
};

// A CloudProvider server on a loopback port chosen by the kernel.
class ExternalGrpcProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    address_ = server_.address();
  }

  void TearDown() override {
    fake_.Release();
    server_.Stop(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  api::GPUNodePool Pool(const std::string& group = "gpu-a100") const {
    api::GPUNodePool pool;
    pool.metadata.name = "a100";
    pool.spec.provider.type = api::ProviderType::kExternalGRPC;
    pool.spec.provider.grpc_address = address_;
    pool.spec.provider.grpc_node_group = group;
    return pool;
  }

  ExternalGrpcProvider Provider(ExternalGrpcProvider::Options options = {}) const {
    return ExternalGrpcProvider(MakeExternalGrpcChannel(address_, ""), options);
  }

  FakeCloudProvider fake_{
      "gpu-a100", 3, {"fake://gpu-a100/n1", "fake://gpu-a100/n2", "fake://gpu-a100/n3"}};
  LoopbackGrpcServer server_{&fake_};
  std::string address_;
};

TEST_F(ExternalGrpcProviderTest, ObserveReportsTargetAndInstances) {
  ASSERT_TRUE(Provider().Resize(Pool(), 4, {}).ok());  // one instance still creating

  absl::StatusOr<PoolObservation> observed = Provider().Observe(Pool());

  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->target_size, 4);
  EXPECT_THAT(observed->nodes, ElementsAre(ProviderNode{"", "fake://gpu-a100/n1", true},
                                           ProviderNode{"", "fake://gpu-a100/n2", true},
                                           ProviderNode{"", "fake://gpu-a100/n3", true},
                                           ProviderNode{"", "fake://gpu-a100/new-0", false}));
}

TEST_F(ExternalGrpcProviderTest, GrowRaisesTargetByTheDifference) {
  absl::Status status = Provider().Resize(Pool(), 5, {});

  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(fake_.target(), 5);
  EXPECT_EQ(fake_.ids().size(), 5u);
}

TEST_F(ExternalGrpcProviderTest, SameSizeChangesNothing) {
  ASSERT_TRUE(Provider().Resize(Pool(), 3, {}).ok());
  EXPECT_EQ(fake_.mutations(), 0);
}

TEST_F(ExternalGrpcProviderTest, ShrinkDeletesExactlyTheNamedNodes) {
  // One by node name (the provider id's last segment), one by provider id.
  absl::Status status = Provider().Resize(Pool(), 1, {"n1", "fake://gpu-a100/n3"});

  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(fake_.target(), 1);
  EXPECT_THAT(fake_.ids(), ElementsAre("fake://gpu-a100/n2"));
}

TEST_F(ExternalGrpcProviderTest, ShrinkRefusedWhenRemoveDoesNotCoverTheDifference) {
  absl::Status status = Provider().Resize(Pool(), 1, {"n1"});

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("a100"));
  EXPECT_EQ(fake_.mutations(), 0);
  EXPECT_EQ(fake_.target(), 3);
  EXPECT_EQ(fake_.ids().size(), 3u);
}

TEST_F(ExternalGrpcProviderTest, ShrinkRefusedWhenRemoveNamesMoreThanTheDifference) {
  absl::Status status = Provider().Resize(Pool(), 2, {"n1", "n2"});

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(fake_.mutations(), 0);
  EXPECT_EQ(fake_.target(), 3);
}

TEST_F(ExternalGrpcProviderTest, ShrinkRefusedWhenRemoveNamesAnUnknownNode) {
  absl::Status status = Provider().Resize(Pool(), 1, {"n1", "ghost"});

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("ghost"));
  EXPECT_EQ(fake_.mutations(), 0);
  EXPECT_EQ(fake_.ids().size(), 3u);
}

TEST_F(ExternalGrpcProviderTest, ShrinkRefusedWhenANameMatchesTwoInstances) {
  FakeCloudProvider other("gpu-b", 2, {"fake://zone-a/n1", "fake://zone-b/n1"});
  LoopbackGrpcServer server(&other);
  ASSERT_TRUE(server.ok());
  api::GPUNodePool pool = Pool("gpu-b");
  pool.spec.provider.grpc_address = server.address();

  absl::Status status =
      ExternalGrpcProvider(MakeExternalGrpcChannel(pool.spec.provider.grpc_address, ""))
          .Resize(pool, 1, {"n1"});
  server.Stop(std::chrono::system_clock::now());

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("n1"));
  EXPECT_EQ(other.mutations(), 0);
}

TEST_F(ExternalGrpcProviderTest, ShrinkDropsUnprovisionedRequestsWithoutNamingNodes) {
  fake_.RequestWithoutInstances(2);  // target 5, 3 instances

  absl::Status status = Provider().Resize(Pool(), 3, {});

  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(fake_.target(), 3);
  EXPECT_EQ(fake_.ids().size(), 3u);
}

TEST_F(ExternalGrpcProviderTest, ShrinkPastUnprovisionedRequestsDeletesTheNamedNodes) {
  fake_.RequestWithoutInstances(2);  // target 5, 3 instances

  absl::Status status = Provider().Resize(Pool(), 2, {"n2"});

  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(fake_.target(), 2);
  EXPECT_THAT(fake_.ids(), ElementsAre("fake://gpu-a100/n1", "fake://gpu-a100/n3"));
}

TEST_F(ExternalGrpcProviderTest, UnknownNodeGroupIsAnErrorNamingIt) {
  absl::StatusOr<PoolObservation> observed = Provider().Observe(Pool("gpu-h100"));

  EXPECT_EQ(observed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(observed.status().message(), HasSubstr("NodeGroupTargetSize"));
  EXPECT_THAT(observed.status().message(), HasSubstr("gpu-h100"));
}

TEST_F(ExternalGrpcProviderTest, MissingNodeGroupIsRefusedWithoutCalling) {
  absl::Status status = Provider().Resize(Pool(""), 5, {});

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fake_.target(), 3);
}

TEST_F(ExternalGrpcProviderTest, ServerDownIsUnavailableNamingTheAddress) {
  server_.Stop(std::chrono::system_clock::now());

  absl::Status status = Provider().Resize(Pool(), 5, {});

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr(address_));
  EXPECT_THAT(status.message(), HasSubstr("gpu-a100"));
}

TEST_F(ExternalGrpcProviderTest, CallsHonourTheDeadline) {
  fake_.Stall();
  const auto start = std::chrono::steady_clock::now();

  absl::StatusOr<PoolObservation> observed =
      Provider({.call_timeout = absl::Milliseconds(200)}).Observe(Pool());

  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(observed.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(observed.status().message(), HasSubstr("NodeGroupTargetSize"));
  EXPECT_LT(elapsed, std::chrono::seconds(3));  // the stall lasts 5 s
}

}  // namespace
}  // namespace bursar::providers
