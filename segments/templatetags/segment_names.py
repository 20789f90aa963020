"""Segment names, descriptions and feature labels in the reader's language (see segments.naming)."""

from django import template

from segments import naming

register = template.Library()


@register.filter
def segment_name(segment) -> str:
    """{{ segment|segment_name }}: a generated name translated, a marketer's own name as typed."""
    return naming.segment_name(segment)


@register.filter
def segment_description(segment) -> str:
    return naming.segment_description(segment)


@register.filter
def generated_name(name: str) -> str:
    """{{ row.segment_name|generated_name }}: for a name given as text, where the segment is not at hand."""
    return naming.translate_segment_name(str(name))


@register.filter
def feature_label(label: str) -> str:
    return naming.translate_feature_label(str(label))
