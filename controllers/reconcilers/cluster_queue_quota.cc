#include "controllers/reconcilers/cluster_queue_quota.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "controllers/reconcilers/snapshot.h"
#include "controllers/values/quantity.h"

namespace bursar::reconcilers {
namespace {

using json::Value;
using values::Quantity;

// One resource entry of one flavor: spec.resourceGroups[group].flavors[flavor].resources[index].
struct Entry {
  size_t group = 0, flavor = 0, index = 0;
  std::string key;  // "<flavor>/<resource>"
  const Value* resource = nullptr;
  Quantity capacity{};
  Quantity held{};
};

absl::StatusOr<Quantity> QuantityOf(const Value& quantity, const std::string& what) {
  absl::StatusOr<Quantity> q = Quantity::Parse(quantity.text());
  if (!q.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", q.status().message()));
  }
  return q;
}

// "<flavor>/<resource>" -> total, from status.flavorsReservation or status.flavorsUsage.
absl::StatusOr<std::map<std::string, Quantity>> Held(const Value& cq, const std::string& field) {
  std::map<std::string, Quantity> held;
  const Value* flavors = cq.FindPath(absl::StrCat("status.", field));
  if (flavors == nullptr || !flavors->is_array()) {
    return held;
  }
  for (const Value& flavor : flavors->elements()) {
    const Value* resources = flavor.Find("resources");
    if (resources == nullptr || !resources->is_array()) {
      continue;
    }
    for (const Value& r : resources->elements()) {
      const Value* total = r.Find("total");
      if (total == nullptr) {
        continue;
      }
      std::string key =
          absl::StrCat(json::StringAt(flavor, "name"), "/", json::StringAt(r, "name"));
      absl::StatusOr<Quantity> q = QuantityOf(*total, absl::StrCat("status.", field, " ", key));
      if (!q.ok()) {
        return q.status();
      }
      held[key] = *q;
    }
  }
  return held;
}

bool SameQuantity(const Value& text, const Quantity& q) {
  absl::StatusOr<Quantity> parsed = Quantity::Parse(text.text());
  return parsed.ok() && *parsed == q;
}

Value Op(const char* op, std::string path, Value value) {
  return Value::Object({{"op", Value::String(op)},
                        {"path", Value::String(std::move(path))},
                        {"value", std::move(value)}});
}

}  // namespace

absl::StatusOr<std::optional<Value>> ClusterQueueQuotaPatch(const Value& cq,
                                                            const ClusterQueueTarget& target) {
  absl::StatusOr<std::map<std::string, Quantity>> reserved = Held(cq, "flavorsReservation");
  if (!reserved.ok()) {
    return reserved.status();
  }
  absl::StatusOr<std::map<std::string, Quantity>> used = Held(cq, "flavorsUsage");
  if (!used.ok()) {
    return used.status();
  }
  // Capacities recorded before: a JSON object in the annotation. An unreadable one is an error:
  // recording afresh would take Bursar's own lowered quotas for capacities.
  std::map<std::string, std::string> recorded;
  const std::string annotation =
      json::MemberStringAt(cq, "metadata.annotations", kFlavorQuotasAnnotation);
  if (!annotation.empty()) {
    absl::StatusOr<Value> parsed = json::Parse(annotation);
    if (!parsed.ok() || !parsed->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("annotation ", kFlavorQuotasAnnotation,
                       " is not a JSON object of \"<flavor>/<resource>\": \"<quantity>\""));
    }
    for (const Value::Member& m : parsed->members()) {
      recorded[m.first] = m.second.text();
    }
  }

  // Every entry for the budget's resources, by resource, in the queue's flavor order.
  std::map<std::string, std::vector<Entry>> by_resource;
  const Value* groups = cq.FindPath("spec.resourceGroups");
  for (size_t g = 0; groups != nullptr && groups->is_array() && g < groups->elements().size();
       ++g) {
    const Value* flavors = groups->elements()[g].Find("flavors");
    for (size_t f = 0; flavors != nullptr && flavors->is_array() && f < flavors->elements().size();
         ++f) {
      const Value& flavor = flavors->elements()[f];
      const Value* resources = flavor.Find("resources");
      for (size_t r = 0;
           resources != nullptr && resources->is_array() && r < resources->elements().size(); ++r) {
        const Value& res = resources->elements()[r];
        std::string name = json::StringAt(res, "name");
        if (!target.allowances.contains(name)) {
          continue;
        }
        Entry e{.group = g,
                .flavor = f,
                .index = r,
                .key = absl::StrCat(json::StringAt(flavor, "name"), "/", name),
                .resource = &res};
        auto known = recorded.find(e.key);
        if (known == recorded.end()) {
          const Value* nominal = res.Find("nominalQuota");
          recorded[e.key] = nominal != nullptr ? nominal->text() : "0";
        }
        absl::StatusOr<Quantity> capacity =
            QuantityOf(Value::String(recorded[e.key]), absl::StrCat("capacity of ", e.key));
        if (!capacity.ok()) {
          return capacity.status();
        }
        e.capacity = *capacity;
        e.held = std::max((*reserved)[e.key], (*used)[e.key]);
        by_resource[name].push_back(std::move(e));
      }
    }
  }
  if (by_resource.empty()) {
    return absl::FailedPreconditionError("lists none of the budget's quota resources");
  }

  const bool in_cohort = !json::StringAt(cq, "spec.cohortName").empty();
  std::vector<Value> ops;
  for (auto& [resource, entries] : by_resource) {
    // First what each flavor holds, in order, as far as the allowance reaches (a flavor holding
    // more keeps it but gets no room: Kueue would refill a freed GPU at once); then the rest.
    Quantity left = std::max(Quantity(), target.allowances.at(resource));
    std::vector<Quantity> quotas;
    for (const Entry& e : entries) {
      quotas.push_back(std::min(e.held, left));
      left = left - quotas.back();
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      Quantity give = std::min(left, std::max(Quantity(), entries[i].capacity - quotas[i]));
      quotas[i] = quotas[i] + give;
      left = left - give;
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      std::string path = absl::StrCat("/spec/resourceGroups/", e.group, "/flavors/", e.flavor,
                                      "/resources/", e.index);
      const Value* nominal = e.resource->Find("nominalQuota");
      const Value* borrowing = e.resource->Find("borrowingLimit");
      // Compared by value: the API server writes a quantity in its canonical form.
      bool set_quota = nominal == nullptr || !SameQuantity(*nominal, quotas[i]);
      bool set_borrowing = in_cohort && (borrowing == nullptr || borrowing->text() != "0");
      if (!set_quota && !set_borrowing) {
        continue;
      }
      ops.push_back(Op("test", path + "/name", Value::String(resource)));
      if (set_quota) {
        ops.push_back(Op("add", path + "/nominalQuota", Value::String(quotas[i].ToString())));
      }
      if (set_borrowing) {
        ops.push_back(Op("add", path + "/borrowingLimit", Value::String("0")));
      }
    }
  }
  // Hold: Kueue's own stopPolicy, so that nothing is admitted into a GPU freed between two
  // passes. Released only when Bursar set it (its held-by annotation), never a user's Hold.
  std::map<std::string, Value> annotations;  // to add
  const std::string stop = json::StringAt(cq, "spec.stopPolicy");
  const std::string held_by = json::MemberStringAt(cq, "metadata.annotations", kHeldByAnnotation);
  if (target.hold && stop != "Hold" && stop != "HoldAndDrain") {
    ops.push_back(Op("add", "/spec/stopPolicy", Value::String("Hold")));
    annotations[kHeldByAnnotation] = Value::String(target.budget);
  } else if (!target.hold && held_by == target.budget) {
    ops.push_back(Op("add", "/spec/stopPolicy", Value::String("None")));
    ops.push_back(
        Value::Object({{"op", Value::String("remove")},
                       {"path", Value::String("/metadata/annotations/bursar.dev~1held-by")}}));
  }
  if (ops.empty()) {
    return std::nullopt;
  }
  // Record the capacities with the first write (and any flavor added since).
  std::vector<Value::Member> capacities;
  for (const auto& [key, quantity] : recorded) {
    capacities.emplace_back(key, Value::String(quantity));
  }
  std::string record = Value::Object(std::move(capacities)).ToJson();
  if (record != annotation) {
    annotations[kFlavorQuotasAnnotation] = Value::String(record);
  }
  if (!annotations.empty() && cq.FindPath("metadata.annotations") == nullptr) {
    std::vector<Value::Member> members(annotations.begin(), annotations.end());
    ops.push_back(Op("add", "/metadata/annotations", Value::Object(std::move(members))));
  } else {
    for (auto& [key, value] : annotations) {
      // JSON pointer: "/" in a key is written "~1".
      ops.push_back(
          Op("add", absl::StrCat("/metadata/annotations/", absl::StrReplaceAll(key, {{"/", "~1"}})),
             std::move(value)));
    }
  }
  return Value::Array(std::move(ops));
}

}  // namespace bursar::reconcilers
