FROM busybox
RUN ["echo", "exec form"]
RUN [ "sh", "-c", "echo $HOME" ]
CMD ["a", "b"]
ENTRYPOINT []
CMD []
# Not valid JSON: shell form.
CMD [ "unterminated"
RUN ['single', 'quotes']
RUN [] ; echo not json either
SHELL ["/bin/bash", "-eo", "pipefail", "-c"]
ENTRYPOINT ["/entrypoint.sh"]
CMD ["\u00e9t\u00e9", "tab\there"]
VOLUME ["/data", "/logs"]
COPY ["src dir/", "dest dir/"]
