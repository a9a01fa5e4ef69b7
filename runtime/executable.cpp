#include "runtime/executable.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

namespace kiln {

std::optional<size_t> Signature::findInput(std::string_view name) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name == name)
      return i;
  return std::nullopt;
}

std::optional<size_t> Signature::findInput(InputRole role) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].role == role)
      return i;
  return std::nullopt;
}

std::optional<size_t> Signature::findOutput(std::string_view name) const {
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].name == name)
      return i;
  return std::nullopt;
}

void Executable::checkInputs(std::span<const HostBuffer> inputs) const {
  if (inputs.size() != signature_.inputs.size())
    throw Error({}, fmt::format("the program takes {} inputs, {} given", signature_.inputs.size(),
                                inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].type() != signature_.inputs[i].type)
      throw Error({}, fmt::format("input '{}' expects {}, found {}", signature_.inputs[i].name,
                                  signature_.inputs[i].type.str(), inputs[i].type().str()));
}

void Executable::run(Bindings &bindings) {
  // Every input is checked before any is moved, so an error leaves the bindings as they were.
  std::string missing;
  for (const Signature::Input &in : signature_.inputs)
    if (!bindings.count(in.name))
      missing += fmt::format("{}'{}' ({})", missing.empty() ? "" : ", ", in.name, in.type.str());
  if (!missing.empty()) {
    // A name bound that is neither an input nor an output is most likely the missing one
    // misspelled.
    std::string unknown;
    for (const auto &[name, buffer] : bindings)
      if (!signature_.findInput(name) && !signature_.findOutput(name))
        unknown += fmt::format("{}'{}'", unknown.empty() ? "" : ", ", name);
    throw Error({}, fmt::format("inputs not bound: {}{}", missing,
                                unknown.empty() ? "" : "; bound, but not inputs: " + unknown));
  }
  std::vector<HostBuffer> inputs;
  inputs.reserve(signature_.inputs.size());
  // Moved in and handed back below, so a run copies no parameter.
  for (const Signature::Input &in : signature_.inputs)
    inputs.push_back(std::move(bindings.at(in.name)));
  auto restore = [&] {
    for (size_t k = 0; k < inputs.size(); ++k)
      bindings.at(signature_.inputs[k].name) = std::move(inputs[k]);
  };
  std::vector<HostBuffer> outputs;
  try {
    outputs = runInPlace(std::span<HostBuffer>(inputs));
  } catch (...) {
    restore();
    throw;
  }
  restore();
  for (size_t i = 0; i < outputs.size(); ++i)
    if (!signature_.outputs[i].updates)
      bindings[signature_.outputs[i].name] = std::move(outputs[i]);
}

std::vector<HostBuffer> Executable::runInPlace(std::span<HostBuffer> inputs) {
  std::vector<HostBuffer> outputs = run(std::span<const HostBuffer>(inputs));
  for (size_t i = 0; i < outputs.size() && i < signature_.outputs.size(); ++i)
    if (std::optional<size_t> in = signature_.outputs[i].updates) {
      inputs[*in] = std::move(outputs[i]);
      outputs[i] = HostBuffer();
    }
  return outputs;
}

} // namespace kiln
