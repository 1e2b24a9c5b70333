{
  "targets": [
    {
      "target_name": "nsnet",
      "sources": [
        "native/nl/nl.cc",
        "native/nl/rtnl.cc",
        "native/nl/nft.cc",
        "native/nl/sockdiag.cc",
        "native/nl/extras.cc",
        "native/io/error.cc",
        "native/io/match.cc",
        "native/io/socket.cc",
        "native/io/inet.cc",
        "native/io/resync.cc",
        "native/io/monitor.cc",
        "native/io/lock.cc",
        "native/ns/ns.cc",
        "native/ns/namespace.cc",
        "native/ns/sysctls.cc",
        "native/ops/ops.cc",
        "native/ops/nft.cc",
        "native/ops/group.cc",
        "native/ops/sockets.cc",
        "native/ops/extras.cc",
        "native/addon/wakeup.cc",
        "native/addon/runner.cc",
        "native/addon/handle.cc",
        "native/addon/convert.cc",
        "native/addon/nft.cc",
        "native/addon/nft_convert.cc",
        "native/addon/reset.cc",
        "native/addon/watch.cc",
        "native/addon/channel.cc",
        "native/addon/addon.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags": ["-fvisibility=hidden", "-O2"],
      "ldflags": ["-Wl,--as-needed"]
    },
    {
      "target_name": "nsnet-cni",
      "type": "executable",
      "sources": ["native/shim/shim.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "ldflags": ["-Wl,--as-needed"]
    }
  ]
}
