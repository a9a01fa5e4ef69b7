#pragma once
// Where kiln keeps what it can rebuild: compiled kernels, trained tokenizers.

#include <string>

namespace kiln {

/// The on-disk cache folder ($XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln); empty when neither
/// variable names an absolute path.
std::string cacheDirectory();

} // namespace kiln
