#include "controllers/api/manifests.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "tests/unit/temp_dir.h"

namespace bursar::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

namespace fs = std::filesystem;

std::string BudgetDoc(const std::string& name, const std::string& ns = "vision") {
  return "apiVersion: bursar.dev/v1alpha1\n"
         "kind: ComputeBudget\n"
         "metadata:\n"
         "  name: " +
         name +
         "\n"
         "spec:\n"
         "  scope: {namespaces: [" +
         ns +
         "]}\n"
         "  limit: {amount: \"5000\"}\n"
         "  period: {type: Monthly}\n";
}

std::string PoolDoc(const std::string& name) {
  return "apiVersion: bursar.dev/v1alpha1\n"
         "kind: GPUNodePool\n"
         "metadata: {name: " +
         name +
         "}\n"
         "spec: {provider: {type: Kwok}, gpusPerNode: 8, maxNodes: 4}\n";
}

std::string BookDoc(const std::string& name) {
  return "apiVersion: bursar.dev/v1alpha1\n"
         "kind: PriceBook\n"
         "metadata: {name: " +
         name +
         "}\n"
         "spec: {currency: USD}\n";
}

std::vector<std::string> Lines(const absl::Status& status) {
  return absl::StrSplit(std::string(status.message()), '\n');
}

std::vector<std::string> Names(const Manifests& m) {
  std::vector<std::string> names;
  for (const auto& b : m.budgets) {
    names.push_back("ComputeBudget/" + b.metadata.name);
  }
  for (const auto& p : m.pools) {
    names.push_back("GPUNodePool/" + p.metadata.name);
  }
  for (const auto& b : m.price_books) {
    names.push_back("PriceBook/" + b.metadata.name);
  }
  return names;
}

TEST(ManifestTest, MultiDocumentFileWithEveryKind) {
  TempDir dir;
  dir.File("all.yaml", "# everything in one file\n---\n" + BudgetDoc("a") + "---\n" + PoolDoc("p") +
                           "---\n---\n" + BookDoc("default") + "---\n" + BudgetDoc("b", "nlp"));
  Manifests m;
  ASSERT_TRUE(LoadManifestFile(dir.Path("all.yaml"), &m).ok());
  EXPECT_THAT(Names(m), ElementsAre("ComputeBudget/a", "ComputeBudget/b", "GPUNodePool/p",
                                    "PriceBook/default"));
  EXPECT_THAT(m.budgets[1].spec.scope.namespaces, ElementsAre("nlp"));
}

TEST(ManifestTest, ListOfItems) {
  TempDir dir;
  dir.File("list.yaml",
           "apiVersion: v1\n"
           "kind: List\n"
           "items:\n"
           "  - {apiVersion: bursar.dev/v1alpha1, kind: PriceBook, metadata: {name: a}, spec: {}}\n"
           "  - {apiVersion: bursar.dev/v1alpha1, kind: GPUNodePool, metadata: {name: p},\n"
           "     spec: {provider: {type: Kwok}, gpusPerNode: 1, maxNodes: 1}}\n"
           "---\n"
           "apiVersion: bursar.dev/v1alpha1\n"
           "kind: PriceBookList\n"
           "items: []\n");
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path("list.yaml")});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(Names(*m), ElementsAre("GPUNodePool/p", "PriceBook/a"));
}

TEST(ManifestTest, UnknownKindNamesFileLineAndKind) {
  TempDir dir;
  dir.File("mixed.yaml", BudgetDoc("a") +
                             "---\n"                  // 9
                             "apiVersion: apps/v1\n"  // 10
                             "kind: Deployment\n"     // 11
                             "metadata: {name: web}\n");
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path("mixed.yaml")});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.status().message(),
            dir.Path("mixed.yaml") +
                ":11: kind: \"Deployment\" is not a Bursar kind (want ComputeBudget, GPUNodePool "
                "or PriceBook)");
}

TEST(ManifestTest, DocumentWithoutKindOrNotAnObject) {
  TempDir dir;
  dir.File("bad.yaml", "apiVersion: bursar.dev/v1alpha1\nmetadata: {name: a}\n---\n- a\n- b\n");
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path("bad.yaml")});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(Lines(m.status()),
              ElementsAre(dir.Path("bad.yaml") + ":1: kind: missing required field",
                          dir.Path("bad.yaml") + ":4: a manifest must be an object, got a list"));
}

TEST(ManifestTest, DuplicateNamesAcrossFilesNameBothPlaces) {
  TempDir dir;
  dir.File("a.yaml", BudgetDoc("team-a") + "---\n" + PoolDoc("team-a"));
  dir.File("b.yaml", "# second\n" + BudgetDoc("team-a"));
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path("a.yaml"), dir.Path("b.yaml")});
  ASSERT_FALSE(m.ok());
  // The pool of the same name is fine: names are per kind.
  EXPECT_EQ(m.status().message(), dir.Path("b.yaml") +
                                      ":5: ComputeBudget \"team-a\" is defined twice: first at " +
                                      dir.Path("a.yaml") + ":4");
}

TEST(ManifestTest, DuplicateWithinOneFile) {
  TempDir dir;
  dir.File("a.yaml", PoolDoc("p") + "---\n" + PoolDoc("p"));
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path("a.yaml")});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(
      std::string(m.status().message()),
      HasSubstr(":8: GPUNodePool \"p\" is defined twice: first at " + dir.Path("a.yaml") + ":3"));
}

TEST(ManifestTest, CollectsErrorsOfAllFiles) {
  TempDir dir;
  dir.File("1.yaml", PoolDoc("p").replace(PoolDoc("p").find("maxNodes: 4"), 11, "maxNodes: -4"));
  dir.File("2.yaml", "a: [\n");
  dir.File("3.yaml", BookDoc("x").replace(BookDoc("x").find("USD"), 3, "usd"));
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path()});
  ASSERT_FALSE(m.ok());
  std::vector<std::string> lines = Lines(m.status());
  ASSERT_THAT(lines, SizeIs(3));
  EXPECT_THAT(lines[0], StartsWith(dir.Path("1.yaml") +
                                   ":4: spec.maxNodes: must be between 0 and 5000 (got -4)"));
  EXPECT_THAT(lines[1], StartsWith(dir.Path("2.yaml") + ":2:1: "));
  EXPECT_THAT(lines[2], StartsWith(dir.Path("3.yaml") + ":4: spec.currency: \"usd\""));
}

TEST(ManifestTest, ErrorsAreCappedAtTwenty) {
  TempDir dir;
  for (int i = 0; i < 25; ++i) {
    dir.File("f" + std::to_string(100 + i) + ".yaml", "kind: Secret\n");
  }
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path()});
  ASSERT_FALSE(m.ok());
  std::vector<std::string> lines = Lines(m.status());
  ASSERT_THAT(lines, SizeIs(21));
  EXPECT_THAT(lines[0], StartsWith(dir.Path("f100.yaml") + ":1: kind: \"Secret\""));
  EXPECT_EQ(lines[20], "... and 5 more errors");
}

TEST(ManifestTest, DirectoriesLoadYamlFilesInNameOrder) {
  TempDir dir;
  dir.File("b.yml", BudgetDoc("second"));
  dir.File("a.yaml", BudgetDoc("first"));
  dir.File("README.md", "not yaml: [\n");
  dir.File("nested/c.yaml", BudgetDoc("nested"));  // not recursive
  dir.File("pools.yaml", PoolDoc("p"));
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path(), dir.Path("nested/c.yaml")});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(Names(*m), ElementsAre("ComputeBudget/first", "ComputeBudget/second",
                                     "ComputeBudget/nested", "GPUNodePool/p"));
}

TEST(ManifestTest, MissingPathIsNotFound) {
  absl::StatusOr<Manifests> m = LoadManifests({"/nonexistent/budgets.yaml"});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(m.status().message()),
              StartsWith("/nonexistent/budgets.yaml: cannot open: "));
}

TEST(ManifestTest, LoadManifestFileAppendsAndIsAllOrNothing) {
  TempDir dir;
  dir.File("a.yaml", BudgetDoc("a"));
  dir.File("b.yaml", BudgetDoc("b") + "---\n" + BudgetDoc("a"));
  dir.File("c.yaml", BudgetDoc("c") + "---\n" + PoolDoc("p"));
  Manifests m;
  ASSERT_TRUE(LoadManifestFile(dir.Path("a.yaml"), &m).ok());
  absl::Status status = LoadManifestFile(dir.Path("b.yaml"), &m);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("ComputeBudget \"a\" is defined twice: first at an earlier file"));
  EXPECT_THAT(Names(m), ElementsAre("ComputeBudget/a"));  // b.yaml added nothing
  ASSERT_TRUE(LoadManifestFile(dir.Path("c.yaml"), &m).ok());
  EXPECT_THAT(Names(m), ElementsAre("ComputeBudget/a", "ComputeBudget/c", "GPUNodePool/p"));
}

TEST(ManifestTest, DecodeErrorsNameTheFile) {
  TempDir dir;
  dir.File("budgets.yaml", BudgetDoc("a").replace(BudgetDoc("a").find("\"5000\""), 6, "5000"));
  absl::StatusOr<Manifests> m = LoadManifests({dir.Path("budgets.yaml")});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), dir.Path("budgets.yaml") +
                                      ":7: spec.limit.amount: must be a string; quote it: "
                                      "\"5000\"");
}

TEST(ManifestTest, ExamplesLoad) {
  const std::string root = BURSAR_SOURCE_DIR;
  absl::StatusOr<Manifests> m = LoadManifests(
      {root + "/examples/budgets", root + "/examples/pools", root + "/examples/pricebooks"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->budgets.empty());
  EXPECT_FALSE(m->pools.empty());
  EXPECT_FALSE(m->price_books.empty());
  // Every budget names pools and price books that the examples define.
  for (const ComputeBudget& b : m->budgets) {
    for (const std::string& pool : b.spec.node_pools) {
      bool found = false;
      for (const GPUNodePool& p : m->pools) {
        found = found || p.metadata.name == pool;
      }
      EXPECT_TRUE(found) << b.metadata.name << " names unknown pool " << pool;
    }
  }
}

}  // namespace
}  // namespace bursar::api
