#include "attnscope/Errors.h"

#include <iostream>
#include <mutex>

namespace attnscope {

namespace {
std::mutex g_mutex;
WarningHandler g_handler = nullptr;
void* g_user = nullptr;
}  // namespace

void warn(const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_handler)
    g_handler(message, g_user);
  else
    std::cerr << "warning: " << message << std::endl;
}

WarningHandler setWarningHandler(WarningHandler handler, void* user) {
  std::lock_guard<std::mutex> lock(g_mutex);
  WarningHandler previous = g_handler;
  g_handler = handler;
  g_user = user;
  return previous;
}

}  // namespace attnscope
