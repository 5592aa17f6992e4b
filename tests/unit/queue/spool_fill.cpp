// spool_fill: commits COUNT small messages to a spool directory through the Spool API (group
// commit, as sealpostd would), to measure `sealpost queue list` on a large queue. Not a test.
//   spool_fill STATE_DIR/spool COUNT [RECIPIENT]      (default recipient: friend@example.com,
//   which sealpostd defers: no remote delivery yet, so the messages stay queued)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "queue/queue_id.hpp"
#include "queue/spool.hpp"

int main(int argc, char** argv) {
  using namespace sealpost::queue;
  if (argc < 3 || std::atoi(argv[2]) <= 0) {
    std::fprintf(stderr, "usage: spool_fill SPOOL_DIR COUNT [RECIPIENT]\n");
    return 64;
  }
  const int count = std::atoi(argv[2]);
  const std::string rcpt = argc > 3 ? argv[3] : "friend@example.com";
  std::string content =
      "Received: from client.example (127.0.0.1)\r\n\tby mail.test (Sealpost) with ESMTPSA\r\n"
      "From: bench@example.org\r\nTo: " +
      rcpt + "\r\nSubject: queue listing benchmark\r\n\r\n";
  while (content.size() < 1024) content += "A line of text to make a message of about 1 KiB.\r\n";

  const auto start = std::chrono::steady_clock::now();
  Spool spool(argv[1]);
  spool.recover();
  constexpr int kWindow = 5000;  // submitted together: a few large batches, one fsync each
  int failed = 0;
  for (int done = 0; done < count; done += kWindow) {
    std::vector<std::future<CommitResult>> results;
    for (int i = done; i < count && i < done + kWindow; ++i) {
      auto promise = std::make_shared<std::promise<CommitResult>>();
      results.push_back(promise->get_future());
      spool.submit(CommitRequest{make_queue_id(), Envelope{"bench@example.org", {rcpt}}, {content}},
                   [promise](CommitResult r) { promise->set_value(std::move(r)); });
    }
    for (auto& r : results) {
      const CommitResult result = r.get();
      if (!result.ok() && failed++ == 0) std::fprintf(stderr, "%s\n", result.what.c_str());
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d message(s) of %zu bytes committed to %s in %.2f s (%d failed)\n", count - failed,
              content.size(), argv[1], seconds, failed);
  return failed == 0 ? 0 : 1;
}
