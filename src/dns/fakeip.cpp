#include "dns/fakeip.hpp"

#include <algorithm>
#include <charconv>

namespace anytls::dns {

namespace {

using U128 = unsigned __int128;

U128 to_number(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_v4().to_uint();
  U128 n = 0;
  for (unsigned char b : a.to_v6().to_bytes()) n = (n << 8) | b;
  return n;
}

asio::ip::address from_number(U128 n, bool v6) {
  if (!v6) return asio::ip::address_v4(static_cast<std::uint32_t>(n));
  asio::ip::address_v6::bytes_type bytes{};
  for (int i = 15; i >= 0; --i, n >>= 8) bytes[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n & 0xff);
  return asio::ip::address_v6(bytes);
}

unsigned width(const asio::ip::address& a) { return a.is_v4() ? 32 : 128; }

U128 host_mask(unsigned w, unsigned bits) {
  const unsigned host = w - bits;
  return host >= 128 ? ~U128{0} : (U128{1} << host) - 1;
}

}  // namespace

bool FakeIpRange::contains(const asio::ip::address& a) const {
  if (a.is_v4() != base.is_v4()) return false;
  return (to_number(a) & ~host_mask(width(a), bits)) == to_number(base);
}

std::optional<FakeIpRange> parse_fakeip_range(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::error_code ec;
  auto addr = asio::ip::make_address(std::string(text.substr(0, slash)), ec);
  if (ec || (addr.is_v6() && addr.to_v6().is_v4_mapped())) return std::nullopt;
  unsigned bits = 0;
  auto digits = text.substr(slash + 1);
  auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
  if (err != std::errc() || end != digits.data() + digits.size() || digits.empty()) return std::nullopt;
  const unsigned w = width(addr);
  if (bits > w - 2) return std::nullopt;  // under 4 addresses
  FakeIpRange r;
  r.bits = bits;
  r.base = from_number(to_number(addr) & ~host_mask(w, bits), addr.is_v6());
  return r;
}

FakeIpStore::FakeIpStore(std::optional<FakeIpRange> inet4, std::optional<FakeIpRange> inet6,
                         std::size_t max_entries) {
  for (Family* f : {&v4_, &v6_}) {
    f->range = f == &v4_ ? inet4 : inet6;
    if (!f->range) continue;
    // base and base + 1 are never handed out, nor the broadcast address.
    const U128 addresses = host_mask(width(f->range->base), f->range->bits) - 2;
    f->capacity = static_cast<std::size_t>(std::min<U128>(addresses, max_entries));
  }
}

asio::ip::address FakeIpStore::address_of(const Family& f, std::size_t slot) {
  return from_number(to_number(f.range->base) + 2 + slot, f.range->base.is_v6());
}

std::optional<std::size_t> FakeIpStore::slot_of(const Family& f, const asio::ip::address& a) {
  if (!f.range || !f.range->contains(a)) return std::nullopt;
  const U128 offset = to_number(a) - to_number(f.range->base);
  if (offset < 2 || offset - 2 >= f.names.size()) return std::nullopt;
  return static_cast<std::size_t>(offset - 2);
}

std::optional<asio::ip::address> FakeIpStore::create(std::string_view name, bool v6) {
  std::lock_guard lock(mu_);
  Family& f = v6 ? v6_ : v4_;
  if (!f.range || f.capacity == 0) return std::nullopt;
  std::string key(name);
  if (auto it = f.slots.find(key); it != f.slots.end()) return address_of(f, it->second);
  const std::size_t slot = f.next;
  f.next = (f.next + 1) % f.capacity;
  if (slot < f.names.size()) {
    if (!f.names[slot].empty()) f.slots.erase(f.names[slot]);  // wrapped: the oldest goes
    f.names[slot] = key;
  } else {
    f.names.push_back(key);
  }
  f.slots.emplace(std::move(key), slot);
  ++generation_;
  return address_of(f, slot);
}

bool FakeIpStore::contains(const asio::ip::address& a) const {
  return (v4_.range && v4_.range->contains(a)) || (v6_.range && v6_.range->contains(a));
}

std::optional<std::string> FakeIpStore::lookup(const asio::ip::address& a) const {
  std::lock_guard lock(mu_);
  const Family& f = a.is_v4() ? v4_ : v6_;
  auto slot = slot_of(f, a);
  if (!slot || f.names[*slot].empty()) return std::nullopt;
  return f.names[*slot];
}

void FakeIpStore::reset() {
  std::lock_guard lock(mu_);
  for (Family* f : {&v4_, &v6_}) {
    f->next = 0;
    f->names.clear();
    f->names.shrink_to_fit();
    f->slots.clear();
  }
  ++generation_;
}

std::size_t FakeIpStore::size() const {
  std::lock_guard lock(mu_);
  return v4_.slots.size() + v6_.slots.size();
}

FakeIpStore::State FakeIpStore::snapshot() const {
  std::lock_guard lock(mu_);
  State s;
  s.inet4 = {v4_.next, v4_.names};
  s.inet6 = {v6_.next, v6_.names};
  return s;
}

bool FakeIpStore::restore(const State& state) {
  auto fits = [](const Family& f, const State::Family& s) {
    if (s.names.empty()) return s.next == 0;
    return f.range && s.names.size() <= f.capacity && s.next < f.capacity;
  };
  std::lock_guard lock(mu_);
  if (!fits(v4_, state.inet4) || !fits(v6_, state.inet6)) return false;
  for (auto [f, s] : {std::pair{&v4_, &state.inet4}, std::pair{&v6_, &state.inet6}}) {
    f->next = s->next;
    f->names = s->names;
    f->slots.clear();
    for (std::size_t k = 0; k < f->names.size(); ++k) {
      if (f->names[k].empty()) continue;
      // A name twice (a hand-edited file): the later slot is free again.
      if (!f->slots.emplace(f->names[k], k).second) f->names[k].clear();
    }
  }
  ++generation_;
  return true;
}

std::uint64_t FakeIpStore::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

}  // namespace anytls::dns
