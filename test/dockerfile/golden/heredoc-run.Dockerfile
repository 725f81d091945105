FROM debian:bookworm-slim
RUN <<EOF
apt-get update
apt-get install -y --no-install-recommends curl
EOF
RUN <<-EOT bash
	set -e
	echo "tabs are stripped from $HOME"
	EOT
RUN <<EOF
#!/usr/bin/env python3
print("run as a file")
EOF
RUN python3 <<EOF > /hello.txt
print("hello")
EOF
RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2
I am
first
FILE1
I am
second
FILE2
RUN cat <<"EOF"
not $expanded
EOF
RUN echo "<<NOT_A_HEREDOC" && cat <<<"here-string"
RUN ["cat", "<<EOF"]
