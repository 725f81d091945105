FROM busybox
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/archive.tar.gz /tmp/
ADD --keep-git-dir=true git@github.com:moby/buildkit.git /buildkit
ADD --unpack=false --chown=1:1 --chmod=600 rootfs.tar.xz /
ADD --exclude=*.txt dir/ /dir/
ADD *.tar /archives/
