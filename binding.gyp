{
  "targets": [
    {
      "target_name": "hostkit",
      "sources": [
        "native/addon.cc",
        "native/sigchld.cc",
        "native/fd_watcher.cc",
        "native/loop_callback.cc",
        "native/listen.c",
        "native/ptrace.c",
        "native/wait.c",
        "native/io.c",
        "native/rsp_frame.c",
        "native/terminal.c",
        "native/signal.c",
        "native/ioctl.c",
        "native/step.c",
        "native/cpu.c",
        "native/address_space.c",
        "native/memory.c",
        "native/launch.c",
        "native/child.c",
        "native/seccomp.c",
        "native/landlock.c",
        "native/forkexec_supervisor.c",
        "native/forkexec_spawn.c",
        "native/forkexec_binding.cc",
        "native/probe.c",
        "native/measure.c",
        "native/futex.c",
        "native/host_binding.cc",
        "native/veriexec_fanotify.c",
        "native/veriexec_binding.cc",
        "native/fuse.c",
        "native/fuse_binding.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17"]
    }
  ]
}
