// What the group outbounds (selector, urltest) share: members named by tag
// and wired after every outbound is built, the member "now" in use, and a
// registry of the connections opened through the group, so that a change of
// choice can close those of the old member (interrupt_exist_connections).
#pragma once
#include <asio/io_context.hpp>
#include <mutex>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outbound/outbound.hpp"

namespace anytls::outbound {

// Where a selector's choice is kept across restarts (app/cache_file.hpp).
class SelectionStore {
 public:
  virtual ~SelectionStore() = default;
  virtual std::optional<std::string> load_selected(std::string_view group) const = 0;
  virtual void save_selected(std::string_view group, std::string_view member) = 0;
};

// The connections a group handed out, each with the member it went through.
// Entries remove themselves when their connection is destroyed; the state is
// shared, so connections may outlive the group (a drained one).
class GroupConnections {
 public:
  GroupConnections();
  // Wraps c; close_through(member) will close it.
  std::unique_ptr<net::Conn> track(std::unique_ptr<net::Conn> c, const Outbound* member);
  std::unique_ptr<net::PacketConn> track(std::unique_ptr<net::PacketConn> c, const Outbound* member);
  // Closes every live connection opened through member (all when null).
  std::size_t close_through(const Outbound* member);
  std::size_t size() const;

  struct Entry {
    const Outbound* member;
    net::Conn* conn = nullptr;
    net::PacketConn* packet = nullptr;
    asio::io_context* worker = nullptr;  // where the connection lives (null: no workers)
  };
  struct State {
    mutable std::mutex mu;  // connections of every worker
    std::list<Entry> entries;
  };

 private:
  std::shared_ptr<State> st_;
};

class Group : public Outbound {
 public:
  Group(std::string tag, std::vector<std::string> member_tags, bool interrupt_exist_connections);

  const std::string& tag() const override { return tag_; }
  const std::vector<std::string>& member_tags() const { return member_tags_; }
  // The members, in member_tags() order; they must outlive the group.
  virtual void set_members(std::vector<Outbound*> members);
  const std::vector<Outbound*>& members() const { return members_; }
  Outbound* member(std::string_view tag) const;
  // The member new connections go to (null before set_members()).
  Outbound* now() const override = 0;
  std::size_t live_connections() const { return conns_.size(); }

 protected:
  // Called when now() changed from `old`: closes old's connections when
  // interrupt_exist_connections is set.
  void changed_from(const Outbound* old);
  GroupConnections& connections() { return conns_; }

 private:
  std::string tag_;
  std::vector<std::string> member_tags_;
  bool interrupt_;
  std::vector<Outbound*> members_;
  GroupConnections conns_;
};

}  // namespace anytls::outbound
