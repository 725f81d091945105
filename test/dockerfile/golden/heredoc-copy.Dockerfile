FROM busybox
COPY <<a <<b /dst/
contents of a $HOME
a
contents of b
b
COPY --chown=1000:1000 <<'EOF' /etc/app.conf
literal $NOT_EXPANDED
EOF
COPY <<-"EOF" /script.sh
	#!/bin/sh
		echo two tabs become none
	EOF
ADD --chmod=0644 <<EOF /added.txt
added via ADD
EOF
COPY <<EOF  /crlf-free.txt
EOF
COPY ["<<EOF", "/json-form-is-not-a-heredoc"]
