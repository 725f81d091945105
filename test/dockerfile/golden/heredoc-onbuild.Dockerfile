FROM busybox
ONBUILD RUN <<EOF
echo triggered
EOF
ONBUILD COPY <<EOF /onbuild.txt
from a trigger
EOF
