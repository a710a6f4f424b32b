// The request head parser over arbitrary bytes, fed whole and in pieces
// (the first byte sets the piece size): both ways agree on a head that
// ends (result, head, count of head bytes), never more than was fed or
// than the limit; what a head holds is what a server relies on.
#include <string_view>

#include "fuzz_check.hpp"
#include "http/request_head.hpp"

using namespace anytls;
using Result = http::RequestHeadParser::Result;

namespace {

constexpr std::size_t kMaxHead = 1024;

struct Outcome {
  Result result = Result::need_more;
  std::size_t used = 0;  // head bytes, over every feed
  http::RequestHead head;
};

Outcome parse(std::string_view in, std::size_t piece) {
  http::RequestHeadParser p(kMaxHead);
  Outcome o;
  for (std::size_t i = 0; i < in.size() && o.result == Result::need_more; i += piece) {
    std::size_t used = 0;
    const std::string_view part = in.substr(i, piece);
    o.result = p.feed(part, used);
    FUZZ_CHECK(used <= part.size());
    o.used += used;
  }
  if (o.result == Result::done) o.head = p.take();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = data[0] % 16 + 1;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = parse(in, in.size() + 1);
  const Outcome pieces = parse(in, piece);
  FUZZ_CHECK(whole.used <= in.size() && pieces.used <= in.size());
  // A head that ends agrees whichever way it came. (Without its end, Beast
  // may see a bad field at once in the whole but wait for the end in
  // pieces, and pieces meet the limit a little later.)
  const bool whole_final = whole.result == Result::done || whole.result == Result::bad;
  const bool pieces_final = pieces.result == Result::done || pieces.result == Result::bad;
  if (whole_final && pieces_final) FUZZ_CHECK(whole.result == pieces.result);
  if (whole.result == Result::need_more) FUZZ_CHECK(whole.used == in.size() && in.size() < kMaxHead);
  if (whole.result == Result::done && pieces.result == Result::done) {
    FUZZ_CHECK(whole.used == pieces.used && whole.used <= kMaxHead);
    FUZZ_CHECK(whole.head.method == pieces.head.method && whole.head.target == pieces.head.target);
    FUZZ_CHECK(whole.head.fields.size() == pieces.head.fields.size());
    FUZZ_CHECK(!whole.head.method.empty() && !whole.head.target.empty());
    FUZZ_CHECK(whole.head.version_minor == 0 || whole.head.version_minor == 1);
    FUZZ_CHECK(!(whole.head.chunked && whole.head.content_length));
    for (const auto& f : whole.head.fields) {
      FUZZ_CHECK(!f.name.empty());
      FUZZ_CHECK(whole.head.field(f.name).has_value());
    }
    (void)whole.head.keep_alive();
    (void)whole.head.upgrade();
  }
  return 0;
}
