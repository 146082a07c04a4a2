"""Programs that run inside kubesim's containers (copied into the image directories by images.py): the simulated
JVM (jvm.py) and the HotSpot attach clients jcmd, jstack, jmap and jattach (attach.py). Each is self-contained
(stdlib only, no import of kubesim): it runs after pivot_root, where only the container's root is reachable."""
