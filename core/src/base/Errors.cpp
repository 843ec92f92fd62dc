#include "attnscope/Errors.h"

#include <new>

#include <iostream>
#include <mutex>

namespace attnscope {

namespace {
std::mutex g_mutex;
WarningHandler g_handler = nullptr;
void* g_user = nullptr;
}  // namespace

bool isAllocationFailure(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e)) return true;
  const std::string what = e.what();
  return what.find("can't allocate memory") != std::string::npos || what.find("out of memory") != std::string::npos ||
         what.find("Cannot allocate memory") != std::string::npos;
}

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
